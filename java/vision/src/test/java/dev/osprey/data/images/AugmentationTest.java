package dev.osprey.data.images;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.BatchSource;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AugmentationTest {
    static final int N = 16;
    static final Preprocessing GREY = new Preprocessing(N, N, Preprocessing.ColorMode.GRAYSCALE,
            Preprocessing.Interpolation.NEAREST, null, null);
    final ImageDecoder decoder = new ImageDecoder();

    @TempDir
    Path dir;

    static byte[] randomPng(long seed) throws Exception {
        Random r = new Random(seed);
        float[] pixels = new float[N * N];
        for (int i = 0; i < pixels.length; i++) {
            pixels[i] = r.nextInt(256) / 255f;
        }
        return ImageTestFiles.grey(pixels, 0, N, N, "png");
    }

    float[] decode(byte[] png, Augmentation.Params p) throws Exception {
        float[] out = new float[N * N];
        decoder.decode(png, "test.png", GREY, p, Augmentation.FillMode.CONSTANT, out, 0);
        return out;
    }

    /** Settings return new Augmentations: configuring the shared NONE, or one shared by pipelines, changes neither. */
    @Test
    void configuringAnAugmentationLeavesTheOriginalAsItWas() {
        Augmentation rotated = Augmentation.NONE.rotation(30);
        assertTrue(Augmentation.NONE.isNone());
        assertFalse(rotated.isNone());
        Augmentation flips = new Augmentation().horizontalFlip(true);
        Augmentation more = flips.zoom(0.2).shift(0.1, 0.1).verticalFlip(true).fillMode(Augmentation.FillMode.WRAP);
        assertEquals(Augmentation.FillMode.NEAREST, flips.fillMode());
        assertEquals(Augmentation.FillMode.WRAP, more.fillMode());
        for (long sample = 0; sample < 64; sample++) { // flips only: never a zoom, a shift or a vertical flip
            Augmentation.Params p = flips.draw(7, 0, sample);
            assertEquals(1.0, p.zoom());
            assertEquals(0.0, p.shiftX());
            assertFalse(p.flipVertical());
        }
    }

    /**
     * Keras' fill modes on a shift of 4 pixels: the pixels shifted in are read where {@link Augmentation#fillIndex}
     * says, so OpenCV's decoder and the array pipeline agree; "reflect" repeats the edge pixel (dcba|abcd), as Keras'.
     */
    @Test
    void shiftedInPixelsAreFilledAsKerasFillModesSay() throws Exception {
        assertEquals(java.util.List.of(1, 0, 0, 1, 2, 3, 3, 2), java.util.stream.IntStream.range(-2, 6)
                .map(i -> Augmentation.fillIndex(Augmentation.FillMode.REFLECT, i, 4)).boxed().toList());
        assertEquals(0, Augmentation.fillIndex(Augmentation.FillMode.REFLECT, -3, 1));
        byte[] png = randomPng(3);
        float[] original = decode(png, Augmentation.Params.IDENTITY);
        Augmentation.Params shift = new Augmentation.Params(0, 1, 0.25, 0, false, false); // 4 of 16 columns
        for (Augmentation.FillMode mode : new Augmentation.FillMode[] {Augmentation.FillMode.REFLECT,
                Augmentation.FillMode.WRAP, Augmentation.FillMode.NEAREST}) {
            float[] out = new float[N * N];
            decoder.decode(png, "test.png", GREY, shift, mode, out, 0);
            for (int row = 0; row < N; row++) {
                for (int col = 0; col < N; col++) {
                    int from = col - 4 < 0 ? Augmentation.fillIndex(mode, col - 4, N) : col - 4;
                    assertEquals(original[row * N + from], out[row * N + col], 0f, mode + " at " + row + ", " + col);
                }
            }
        }
    }

    @Test
    void aQuarterTurnIsExactlyATransposeAndAFlip() throws Exception {
        byte[] png = randomPng(1);
        float[] original = decode(png, Augmentation.Params.IDENTITY);
        float[] rotated = decode(png, new Augmentation.Params(90, 1, 0, 0, false, false));
        float[] expected = new float[N * N];
        for (int row = 0; row < N; row++) {
            for (int col = 0; col < N; col++) {
                expected[row * N + col] = original[col * N + (N - 1 - row)]; // counter-clockwise
            }
        }
        assertArrayEquals(expected, rotated, 0f);
    }

    @Test
    void flippingTwiceIsTheIdentityAndAFullTurnChangesNothing() throws Exception {
        byte[] png = randomPng(2);
        float[] original = decode(png, Augmentation.Params.IDENTITY);
        float[] flipped = decode(png, new Augmentation.Params(0, 1, 0, 0, true, false));
        assertFalse(java.util.Arrays.equals(original, flipped));
        float[] twice = decode(ImageTestFiles.grey(flipped, 0, N, N, "png"), new Augmentation.Params(0, 1, 0, 0, true, false));
        assertArrayEquals(original, twice, 0f);
        // Through the warp itself (not the identity shortcut): a full turn, unit zoom, no shift.
        assertArrayEquals(original, decode(png, new Augmentation.Params(360, 1, 0, 0, false, false)), 0f);
        assertArrayEquals(original, decode(png, new Augmentation.Params(0, 1, 0, 0, false, false)), 0f);
    }

    @Test
    void theSameSeedGivesTheSameAugmentedBatch() throws Exception {
        dev.osprey.NDArray x = dev.osprey.data.Datasets.fashionMnistSample().testX().slice(0, 40);
        dev.osprey.NDArray y = dev.osprey.data.Datasets.fashionMnistSample().testY().slice(0, 40);
        ImageTestFiles.classFolders(dir, x, y);
        ImageFolder folder = ImageFolder.scan(dir);
        Augmentation aug = new Augmentation().rotation(20).zoom(0.1).shift(0.1, 0.1).horizontalFlip(true);
        Preprocessing p = Preprocessing.scaled(28, 28, Preprocessing.ColorMode.GRAYSCALE);
        float[] first;
        try (ImageBatchSource a = new ImageBatchSource(folder, p, aug, 9, 2, 2, false);
             ImageBatchSource b = new ImageBatchSource(folder, p, aug, 9, 1, 0, false);
             ImageBatchSource c = new ImageBatchSource(folder, p, aug, 10, 2, 2, false)) {
            a.startEpoch(0, 16, true, 3);
            b.startEpoch(0, 16, true, 3);
            c.startEpoch(0, 16, true, 3);
            BatchSource.Batch ba = a.next();
            first = ba.x().clone();
            assertArrayEquals(first, b.next().x(), 0f, "same seed, different worker counts");
            assertFalse(java.util.Arrays.equals(first, c.next().x()), "another seed augments differently");
            a.startEpoch(1, 16, true, 3);
            assertFalse(java.util.Arrays.equals(first, a.next().x()), "a new epoch draws afresh");
        }
        assertTrue(first.length >= 16 * 784);
    }
}
