package example;

import dev.osprey.FitOptions;
import dev.osprey.Models;
import dev.osprey.Sequential;
import dev.osprey.data.Datasets;
import dev.osprey.data.LabeledData;

/** The tutorial CNN, trained with nothing but osprey-core on the class path. */
public final class TrainTutorial {
    public static void main(String[] args) {
        LabeledData data = Datasets.fashionMnistSample();
        try (Sequential model = Models.compiledTutorialCnn()) {
            model.fit(data.trainX(), data.trainY(), FitOptions.defaults().epochs(3).batchSize(32).verbose(false));
            System.out.println("test accuracy after 3 epochs: " + model.evaluate(data.testX(), data.testY()).get("accuracy"));
            model.save(java.nio.file.Path.of("target/tutorial.osprey"));
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
