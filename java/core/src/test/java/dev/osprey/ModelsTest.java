package dev.osprey;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * The built-in architectures have the published parameter counts: He et al.'s ResNet-20 (0.27 M), and torchvision's
 * ResNet-18/34/50 and MobileNetV2 trainable counts to the parameter (Keras adds BatchNorm's moving statistics to its
 * total as non-trainable). Counted from the graph: nothing is allocated.
 */
class ModelsTest {
    @Test
    void resNet20HasThePapersQuarterMillionParameters() {
        Model m = Models.resNet(20);
        assertEquals(272_474, m.trainableParams());
        assertEquals(1_568, m.nonTrainableParams()); // moving mean and variance of 19 BatchNormalizations
        assertEquals(274_042, m.countParams());
        assertEquals(Shape.of(10), m.outputShape());
        for (dev.osprey.engine.Node node : new dev.osprey.engine.Graph(m.inputs(), m.outputs()).nodes()) {
            if (node.layer() instanceof dev.osprey.layers.Conv2D && node.output().shape().dim(2) == 16) {
                assertEquals(32, node.output().shape().dim(0), "the stem and first stage keep 32x32: " + node);
            }
        }
        assertEquals(Models.resNet(56).trainableParams() > 850_000, true, "ResNet-56 has about 0.85 M");
    }

    @Test
    void imageNetResNetsMatchTorchvision() {
        Shape imageNet = Shape.of(224, 224, 3);
        assertEquals(11_689_512, Models.resNet18(imageNet, 1000).trainableParams());
        assertEquals(21_797_672, Models.resNet34(imageNet, 1000).trainableParams());
        Model resNet50 = Models.resNet50(imageNet, 1000);
        assertEquals(25_557_032, resNet50.trainableParams());
        assertEquals(25_610_152, resNet50.countParams(), "Keras' total: 25.6 M with the moving statistics");
        assertEquals(Shape.of(1000), resNet50.outputShape());
    }

    @Test
    void mobileNetV2MatchesThePublishedCounts() {
        assertEquals(3_504_872, Models.mobileNetV2(1.0).trainableParams());
        assertEquals(3_538_984, Models.mobileNetV2(1.0).countParams(), "Keras' MobileNetV2 total");
        assertEquals(2_236_682, Models.mobileNetV2(1.0, Shape.of(32, 32, 3), 10).trainableParams());
        assertTrue(Models.mobileNetV2(0.5).trainableParams() < 2_000_000);
    }

    /** torchvision's efficientnet_b0: 5,288,548 parameters, and 42,016 BatchNorm statistics (Keras' total less its
     * Normalization layer's 7); 4,020,358 with 10 classes. */
    @Test
    void efficientNetB0MatchesTorchvisionAndKeras() {
        try (Model m = Models.efficientNetB0()) {
            assertEquals(5_288_548, m.trainableParams());
            assertEquals(5_330_564, m.countParams());
        }
        try (Model m = Models.efficientNetB0(Shape.of(224, 224, 3), 10)) {
            assertEquals(4_020_358, m.trainableParams());
        }
        try (Model m = Models.byName("efficientnetb0", Shape.of(32, 32, 3), 10);
             Model torchvisionName = Models.byName("efficientnet_b0", Shape.of(32, 32, 3), 10)) {
            assertEquals(Shape.of(10), m.outputShape());
            assertEquals(m.countParams(), torchvisionName.countParams());
        }
    }

    /** torchvision's mobilenet_v3_large and _small: parameters, BatchNorm statistics, and with 10 classes. */
    @Test
    void mobileNetV3MatchesTorchvision() {
        try (Model large = Models.mobileNetV3Large(); Model small = Models.mobileNetV3Small()) {
            assertEquals(5_483_032, large.trainableParams());
            assertEquals(5_507_432, large.countParams());
            assertEquals(2_542_856, small.trainableParams());
            assertEquals(2_554_968, small.countParams());
        }
        try (Model large = Models.byName("mobilenetv3large", Shape.of(224, 224, 3), 10);
             Model small = Models.byName("mobilenetv3small", Shape.of(224, 224, 3), 10)) {
            assertEquals(4_214_842, large.trainableParams());
            assertEquals(1_528_106, small.trainableParams());
        }
    }

    /** torchvision's convnext_tiny: 28,589,128 parameters, no running statistics; 27,827,818 with 10 classes. */
    @Test
    void convNeXtTinyMatchesTorchvision() {
        try (Model m = Models.convNeXtTiny()) {
            assertEquals(28_589_128, m.trainableParams());
            assertEquals(28_589_128, m.countParams());
            assertEquals(Shape.of(1000), m.outputShape());
        }
        try (Model m = Models.byName("convnexttiny", Shape.of(32, 32, 3), 10);
             Model torchvisionName = Models.byName("convnext_tiny", Shape.of(32, 32, 3), 10)) {
            assertEquals(27_827_818, m.trainableParams());
            assertEquals(m.countParams(), torchvisionName.countParams());
        }
        IllegalArgumentException small = assertThrows(IllegalArgumentException.class,
                () -> Models.byName("convnexttiny", Shape.of(28, 28, 1), 10));
        assertTrue(small.getMessage().contains("at least 32x32") && small.getMessage().contains("(28, 28, 1)"),
                small.getMessage());
    }

    /**
     * torchvision's vit_b_16: 86,567,656 parameters (class token and 197 position embeddings included); ViT-Tiny at
     * 224x224 is DeiT-Tiny's 5,717,416, and on 32x32 images takes 4x4 patches (64 tokens and the class token).
     */
    @Test
    void visionTransformersMatchTorchvisionAndDeiT() {
        try (Model m = Models.vitB16()) {
            assertEquals(86_567_656, m.countParams());
            assertEquals(Shape.of(1000), m.outputShape());
        }
        try (Model m = Models.byName("vittiny", Shape.of(224, 224, 3), 1000)) {
            assertEquals(5_717_416, m.countParams());
        }
        try (Model m = Models.byName("vit_tiny", Shape.of(32, 32, 3), 10);
             Model b = Models.byName("vit_b_16", Shape.of(32, 32, 3), 10)) {
            assertEquals(5_362_762, m.countParams());
            assertEquals(Shape.of(65, 192), m.layers().stream()
                    .filter(l -> l instanceof dev.osprey.layers.ClassToken).findFirst().orElseThrow().output().shape());
            assertEquals(Shape.of(10), b.outputShape());
        }
        IllegalArgumentException uneven = assertThrows(IllegalArgumentException.class,
                () -> Models.byName("vitb16", Shape.of(28, 28, 1), 10));
        assertTrue(uneven.getMessage().contains("multiples of the patch size 16")
                && uneven.getMessage().contains("(28, 28, 1)"), uneven.getMessage());
    }

    /**
     * Stochastic depth in the built-ins, as Keras and torchvision schedule it: a rate rising linearly with the block's
     * index, on EfficientNet-B0's 9 residual blocks (rate * index / 16) and ConvNeXt-Tiny's blocks after the first
     * (rate * index / 17); no parameters added, none by default.
     */
    @Test
    void stochasticDepthRisesLinearlyOverTheBlocks() {
        Shape small = Shape.of(32, 32, 3);
        try (Model plain = Models.efficientNetB0(small, 10); Model deep = Models.efficientNetB0(small, 10, 0.2)) {
            assertEquals(0, rates(plain).length);
            double[] rates = rates(deep);
            assertEquals(9, rates.length);
            assertEquals(0.2 * 2 / 16, rates[0], 1e-12, "the first residual block is the third block");
            assertEquals(0.2 * 14 / 16, rates[8], 1e-12, "the last residual block is the 15th");
            assertEquals(plain.countParams(), deep.countParams());
        }
        try (Model deep = Models.convNeXtTiny(small, 10, 0.1)) {
            double[] rates = rates(deep);
            assertEquals(17, rates.length, "every block but the first, whose rate is 0");
            assertEquals(0.1 / 17, rates[0], 1e-12);
            assertEquals(0.1, rates[16], 1e-12);
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Models.convNeXtTiny(small, 10, Double.NaN));
        assertTrue(e.getMessage().contains("dropPathRate") && e.getMessage().contains("NaN"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Models.efficientNetB0(small, 10, -0.1));
        try (Model byName = Models.byName("efficientnet_b0", small, 10, 0.2)) {
            assertEquals(9, rates(byName).length);
        }
        IllegalArgumentException none = assertThrows(IllegalArgumentException.class,
                () -> Models.byName("resnet20", small, 10, 0.1));
        assertTrue(none.getMessage().contains("efficientnetb0 or convnexttiny") && none.getMessage().contains("resnet20"),
                none.getMessage());
    }

    private static double[] rates(Model m) {
        return m.layers().stream().filter(l -> l instanceof dev.osprey.layers.StochasticDepth)
                .mapToDouble(l -> ((dev.osprey.layers.StochasticDepth) l).rate()).toArray();
    }

    @Test
    void anyInputSizeAndClassCount() {
        Model small = Models.resNet18(Shape.of(64, 48, 1), 7);
        assertEquals(Shape.of(7), small.outputShape());
        assertEquals(Shape.of(4), Models.byName("resnet20", Shape.of(28, 28, 1), 4).outputShape());
        assertEquals(Shape.of(5), Models.byName("mobilenetv2_0.35", Shape.of(32, 32, 3), 5).outputShape());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Models.resNet(21));
        assertTrue(e.getMessage().contains("6n + 2"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Models.byName("vgg16", Shape.of(32, 32, 3), 10));
    }
}
