package dev.osprey.callbacks;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Activation;
import dev.osprey.FitOptions;
import dev.osprey.History;
import dev.osprey.Model;
import dev.osprey.NDArray;
import dev.osprey.Sequential;
import dev.osprey.backend.Device;
import dev.osprey.layers.Dense;
import dev.osprey.loss.Loss;
import dev.osprey.metrics.Metric;
import dev.osprey.optim.Adam;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** CSVLogger writes Keras' per-epoch table: a header once, a line per epoch, the same figures as History. */
class CSVLoggerTest {
    @TempDir
    Path dir;

    @Test
    void oneLinePerEpochWithHistorysFiguresAndAppendAddsNoSecondHeader() throws Exception {
        Random r = new Random(1);
        float[] x = new float[40 * 4];
        float[] y = new float[40];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextGaussian();
        }
        for (int i = 0; i < y.length; i++) {
            y[i] = r.nextInt(3);
        }
        NDArray xs = new NDArray(x, 40, 4);
        NDArray ys = new NDArray(y, 40);
        Path csv = dir.resolve("logs/training.csv");
        try (Model model = new Sequential(new Dense(3, Activation.SOFTMAX).inputShape(4)).device(Device.cpu())
                .compile(new Adam(), Loss.sparseCategoricalCrossentropy(), Metric.ACCURACY)) {
            History h = model.fit(xs, ys, FitOptions.defaults().epochs(3).batchSize(8).verbose(false)
                    .validationData(xs, ys).callbacks(new CSVLogger(csv)));
            List<String> lines = Files.readAllLines(csv);
            assertEquals("epoch,accuracy,learning_rate,loss,val_accuracy,val_loss", lines.get(0));
            assertEquals(4, lines.size(), String.join("\n", lines));
            for (int e = 0; e < 3; e++) {
                String[] f = lines.get(e + 1).split(",");
                assertEquals(String.valueOf(e), f[0]);
                assertEquals(h.get("loss").get(e), Double.parseDouble(f[3]), 0.0);
                assertEquals(h.get("val_accuracy").get(e), Double.parseDouble(f[4]), 0.0);
            }
            model.fit(xs, ys, FitOptions.defaults().epochs(2).batchSize(8).verbose(false)
                    .validationData(xs, ys).callbacks(new CSVLogger(csv, ",", true)));
            List<String> appended = Files.readAllLines(csv);
            assertEquals(6, appended.size(), String.join("\n", appended));
            assertTrue(appended.get(4).startsWith("0,") && appended.get(5).startsWith("1,"));
            model.fit(xs, ys, FitOptions.defaults().epochs(1).batchSize(8).verbose(false)
                    .callbacks(new CSVLogger(csv)));
            assertEquals(List.of("epoch,accuracy,learning_rate,loss"), Files.readAllLines(csv).subList(0, 1),
                    "without append the file starts again");
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new CSVLogger(csv, "", false));
        assertTrue(e.getMessage().contains("expected a non-empty separator"), e.getMessage());
    }
}
