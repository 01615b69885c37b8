package dev.osprey.data.images;

import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Random image transformations drawn afresh for every sample of every epoch, as Keras' ImageDataGenerator:
 * rotation within +-degrees, horizontal/vertical flips, zoom within 1 +- range, shifts within +- a share of the
 * size; uncovered pixels filled per {@link FillMode}. Draws come from (seed, epoch, sample), so a run repeats.
 * Immutable: each setting returns a new Augmentation, so one can be shared by threads and pipelines (and
 * {@link #NONE} stays none).
 */
public final class Augmentation {
    /**
     * How pixels shifted in from outside the image are filled: CONSTANT with zeros, NEAREST with the nearest edge
     * pixel, REFLECT mirrored about the edge (the edge pixel repeated, as Keras' "reflect": dcba|abcd|dcba), WRAP with
     * the image tiled.
     */
    public enum FillMode { CONSTANT, NEAREST, REFLECT, WRAP }

    /**
     * One sample's transformation.
     *
     * @param degrees        rotation about the centre, in degrees, counter-clockwise
     * @param zoom           scale factor about the centre: 1 keeps the size, above 1 enlarges
     * @param shiftX         shift as a share of the width; positive moves the content right
     * @param shiftY         shift as a share of the height; positive moves the content down
     * @param flipHorizontal mirror left to right
     * @param flipVertical   mirror top to bottom
     */
    public record Params(double degrees, double zoom, double shiftX, double shiftY, boolean flipHorizontal,
                         boolean flipVertical) {
        /** No transformation at all. */
        public static final Params IDENTITY = new Params(0, 1, 0, 0, false, false);

        /** True when this transformation leaves an image as it is. */
        public boolean isIdentity() {
            return degrees == 0 && zoom == 1 && shiftX == 0 && shiftY == 0 && !flipHorizontal && !flipVertical;
        }
    }

    /** No augmentation; configuring it gives new Augmentations and leaves it as it is. */
    public static final Augmentation NONE = new Augmentation();

    private final double rotationDegrees;
    private final boolean horizontalFlip;
    private final boolean verticalFlip;
    private final double zoomRange;
    private final double widthShift;
    private final double heightShift;
    private final FillMode fillMode;

    /** Nothing varies yet; add transformations with the methods below (each returns a new Augmentation). */
    public Augmentation() {
        this(0, false, false, 0, 0, 0, FillMode.NEAREST);
    }

    private Augmentation(double rotationDegrees, boolean horizontalFlip, boolean verticalFlip, double zoomRange,
                         double widthShift, double heightShift, FillMode fillMode) {
        this.rotationDegrees = rotationDegrees;
        this.horizontalFlip = horizontalFlip;
        this.verticalFlip = verticalFlip;
        this.zoomRange = zoomRange;
        this.widthShift = widthShift;
        this.heightShift = heightShift;
        this.fillMode = fillMode;
    }

    /**
     * Rotation by an angle drawn from [-degrees, degrees]; throws IllegalArgumentException for a negative or infinite
     * value. Needs resampling (image folders only).
     */
    public Augmentation rotation(double degrees) {
        return new Augmentation(nonNegative("rotation", degrees), horizontalFlip, verticalFlip, zoomRange, widthShift,
                heightShift, fillMode);
    }

    /** Whether each sample is mirrored left to right, with probability 1/2 per draw. */
    public Augmentation horizontalFlip(boolean on) {
        return new Augmentation(rotationDegrees, on, verticalFlip, zoomRange, widthShift, heightShift, fillMode);
    }

    /** Whether each sample is mirrored top to bottom, with probability 1/2 per draw. */
    public Augmentation verticalFlip(boolean on) {
        return new Augmentation(rotationDegrees, horizontalFlip, on, zoomRange, widthShift, heightShift, fillMode);
    }

    /** Zoom factor drawn from [1 - range, 1 + range]. */
    public Augmentation zoom(double range) {
        if (!(range >= 0 && range < 1)) {
            throw new IllegalArgumentException("Augmentation: expected 0 <= zoom range < 1, received " + range);
        }
        return new Augmentation(rotationDegrees, horizontalFlip, verticalFlip, range, widthShift, heightShift,
                fillMode);
    }

    /** Shifts drawn from +- these shares of the width and the height. */
    public Augmentation shift(double widthShare, double heightShare) {
        return new Augmentation(rotationDegrees, horizontalFlip, verticalFlip, zoomRange,
                nonNegative("width shift", widthShare), nonNegative("height shift", heightShare), fillMode);
    }

    /** How pixels shifted in from outside the image are filled; NEAREST unless set. */
    public Augmentation fillMode(FillMode mode) {
        if (mode == null) {
            throw new IllegalArgumentException("Augmentation: expected a fill mode, received null");
        }
        return new Augmentation(rotationDegrees, horizontalFlip, verticalFlip, zoomRange, widthShift, heightShift, mode);
    }

    /** How pixels shifted in from outside the image are filled (default NEAREST). */
    public FillMode fillMode() {
        return fillMode;
    }

    private static double nonNegative(String what, double v) {
        if (!(v >= 0) || Double.isInfinite(v)) {
            throw new IllegalArgumentException("Augmentation: expected " + what + " >= 0, received " + v);
        }
        return v;
    }

    /** True when nothing is configured to vary, so every draw is {@link Params#IDENTITY}. */
    public boolean isNone() {
        return rotationDegrees == 0 && !horizontalFlip && !verticalFlip && zoomRange == 0 && widthShift == 0
                && heightShift == 0;
    }

    /** True when a draw may rotate or zoom (which needs resampling, not just moving whole pixels). */
    public boolean hasResampling() {
        return rotationDegrees != 0 || zoomRange != 0;
    }

    /** Where an index outside [0, size) reads from, for the nearest, reflect (edge repeated) and wrap fill modes. */
    public static int fillIndex(FillMode mode, int index, int size) {
        return switch (mode) {
            case NEAREST -> Math.min(Math.max(index, 0), size - 1);
            case WRAP -> Math.floorMod(index, size);
            case REFLECT -> {
                int m = Math.floorMod(index, 2 * size); // abcd dcba abcd ...
                yield m < size ? m : 2 * size - 1 - m;
            }
            case CONSTANT -> throw new IllegalArgumentException("constant fill reads no pixel");
        };
    }

    /** The transformation of one sample in one epoch; the same arguments always give the same draw. */
    public Params draw(long seed, int epoch, long sample) {
        if (isNone()) {
            return Params.IDENTITY;
        }
        SplittableRandom r = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + epoch * 1_000_003L + sample);
        return new Params(
                rotationDegrees == 0 ? 0 : (r.nextDouble() * 2 - 1) * rotationDegrees,
                zoomRange == 0 ? 1 : 1 + (r.nextDouble() * 2 - 1) * zoomRange,
                widthShift == 0 ? 0 : (r.nextDouble() * 2 - 1) * widthShift,
                heightShift == 0 ? 0 : (r.nextDouble() * 2 - 1) * heightShift,
                horizontalFlip && r.nextBoolean(),
                verticalFlip && r.nextBoolean());
    }

    @Override
    public String toString() {
        String flips = horizontalFlip && verticalFlip ? "both" : horizontalFlip ? "horizontal"
                : verticalFlip ? "vertical" : "none";
        return String.format(Locale.ROOT, "rotation %.0f deg, zoom %.2f, shift %.2f/%.2f, flip %s, fill %s",
                rotationDegrees, zoomRange, widthShift, heightShift, flips, fillMode.name().toLowerCase(Locale.ROOT));
    }
}
