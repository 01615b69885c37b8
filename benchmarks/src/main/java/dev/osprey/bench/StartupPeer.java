package dev.osprey.bench;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import dev.osprey.Model;
import dev.osprey.Models;
import dev.osprey.Shape;
import dev.osprey.backend.Device;
import dev.osprey.loss.Loss;
import dev.osprey.optim.Adam;
import java.awt.image.BufferedImage;
import java.io.File;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.Map;
import javax.imageio.ImageIO;

/**
 * benchmarks/run-startup.sh's helper. {@code prepare DIR} writes the models and images the runs use (the tutorial
 * CNN and ResNet-20 at 32x32x3, random weights; a 28x28 grey and a 32x32 colour PNG). {@code predict MODEL.onnx
 * IMAGE.png} is ONNX Runtime's side: JVM start, session, the PNG decoded with ImageIO and scaled to [0, 1] in NCHW,
 * one run, the top class printed.
 */
public final class StartupPeer {
    private StartupPeer() {
    }

    public static void main(String[] args) throws Exception {
        if (args[0].equals("prepare")) {
            prepare(Path.of(args[1]));
        } else {
            predict(args[1], args[2]);
        }
    }

    private static void prepare(Path dir) throws Exception {
        try (Model tutorial = Models.compiledTutorialCnn(Device.cpu())) {
            tutorial.save(dir.resolve("tutorial.osprey"));
        }
        try (Model resnet = Models.resNet(20, Shape.of(32, 32, 3), 10).device(Device.cpu())) {
            resnet.compile(new Adam(1e-3, 0.9, 0.999, 1e-7), Loss.sparseCategoricalCrossentropy());
            resnet.build();
            resnet.save(dir.resolve("resnet20.osprey"));
        }
        ImageIO.write(image(28, 28, BufferedImage.TYPE_BYTE_GRAY), "png", dir.resolve("shoe.png").toFile());
        ImageIO.write(image(32, 32, BufferedImage.TYPE_INT_RGB), "png", dir.resolve("rgb.png").toFile());
    }

    private static BufferedImage image(int h, int w, int type) {
        BufferedImage image = new BufferedImage(w, h, type);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                image.setRGB(x, y, ((x * 9) & 0xff) << 16 | ((y * 7) & 0xff) << 8 | ((x + y) * 3 & 0xff));
            }
        }
        return image;
    }

    private static void predict(String onnx, String png) throws Exception {
        BufferedImage image = ImageIO.read(new File(png));
        int h = image.getHeight(), w = image.getWidth();
        float[] nchw = new float[3 * h * w];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int rgb = image.getRGB(x, y);
                nchw[y * w + x] = ((rgb >> 16) & 0xff) / 255f;
                nchw[h * w + y * w + x] = ((rgb >> 8) & 0xff) / 255f;
                nchw[2 * h * w + y * w + x] = (rgb & 0xff) / 255f;
            }
        }
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession session = env.createSession(onnx, new OrtSession.SessionOptions());
             OnnxTensor input = OnnxTensor.createTensor(env, FloatBuffer.wrap(nchw), new long[] {1, 3, h, w});
             OrtSession.Result result = session.run(Map.of(session.getInputNames().iterator().next(), input))) {
            float[] logits = ((float[][]) result.get(0).getValue())[0];
            int best = 0;
            for (int i = 1; i < logits.length; i++) {
                best = logits[i] > logits[best] ? i : best;
            }
            System.out.println(png + ": class " + best);
        }
    }
}
