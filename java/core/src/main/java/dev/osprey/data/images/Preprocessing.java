package dev.osprey.data.images;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * How an image file becomes a model input: decoded grey or colour (RGB order), resized to height x width with an
 * interpolation, scaled to [0, 1], then optionally normalised per channel by mean and std. Saved with the model,
 * so prediction on a raw image file applies exactly the steps training did.
 */
public record Preprocessing(int height, int width, ColorMode color, Interpolation interpolation, float[] mean,
                            float[] std) {
    /** Decoded as one grey channel, or as three channels in RGB order. */
    public enum ColorMode { GRAYSCALE, RGB }

    /**
     * How images are resized: nearest neighbour, bilinear, bicubic, or pixel-area averaging (OpenCV's INTER_* modes).
     */
    public enum Interpolation { NEAREST, LINEAR, CUBIC, AREA }

    /**
     * Throws IllegalArgumentException for a size that is not positive, for mean and std not given together with one
     * value per channel each, or for a std value that is not positive.
     */
    public Preprocessing {
        if (height <= 0 || width <= 0) {
            throw new IllegalArgumentException("Preprocessing: expected a positive size, received " + height + "x" + width);
        }
        int channels = color == ColorMode.RGB ? 3 : 1;
        if ((mean == null) != (std == null) || (mean != null && (mean.length != channels || std.length != channels))) {
            throw new IllegalArgumentException("Preprocessing: expected mean and std of " + channels + " values each");
        }
        if (std != null) {
            for (float s : std) {
                if (!(s > 0)) {
                    throw new IllegalArgumentException("Preprocessing: expected std > 0, received " + s);
                }
            }
        }
    }

    /** Scale to [0, 1] only, linear resizing. */
    public static Preprocessing scaled(int height, int width, ColorMode color) {
        return new Preprocessing(height, width, color, Interpolation.LINEAR, null, null);
    }

    /** 3 for RGB, 1 for grayscale. */
    public int channels() {
        return color == ColorMode.RGB ? 3 : 1;
    }

    /** Floats in one preprocessed image: height x width x channels. */
    public int sampleSize() {
        return height * width * channels();
    }

    /**
     * This preprocessing as model.json stores it: height, width, color and interpolation (lower case), and mean and std
     * when set.
     */
    public Map<String, Object> toConfig() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("height", height);
        c.put("width", width);
        c.put("color", color.name().toLowerCase(Locale.ROOT));
        c.put("interpolation", interpolation.name().toLowerCase(Locale.ROOT));
        if (mean != null) {
            c.put("mean", floats(mean));
            c.put("std", floats(std));
        }
        return c;
    }

    /**
     * The inverse of {@link #toConfig()}. Throws IllegalArgumentException for a size that is not a positive whole
     * number or for an unknown color or interpolation, and a LimitExceededException for an image of more than the
     * maxImagePixels limit.
     */
    public static Preprocessing fromConfig(Map<?, ?> c) {
        int height = size(c, "height"), width = size(c, "width");
        dev.osprey.Limits.check("Preprocessing: the image size " + height + "x" + width, (long) height * width,
                "maxImagePixels", dev.osprey.Limits.current().maxImagePixels());
        return new Preprocessing(height, width,
                ColorMode.valueOf(((String) c.get("color")).toUpperCase(Locale.ROOT)),
                Interpolation.valueOf(((String) c.get("interpolation")).toUpperCase(Locale.ROOT)),
                c.containsKey("mean") ? toFloats((List<?>) c.get("mean")) : null,
                c.containsKey("std") ? toFloats((List<?>) c.get("std")) : null);
    }

    private static int size(Map<?, ?> c, String key) {
        if (!(c.get(key) instanceof Number n) || n.doubleValue() != Math.rint(n.doubleValue()) || n.doubleValue() < 1
                || n.doubleValue() > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("Preprocessing: expected '" + key + "' to be a positive whole number, "
                    + "received " + c.get(key));
        }
        return n.intValue();
    }

    private static List<Double> floats(float[] a) {
        Double[] d = new Double[a.length];
        for (int i = 0; i < a.length; i++) {
            d[i] = (double) a[i];
        }
        return List.of(d);
    }

    private static float[] toFloats(List<?> l) {
        float[] f = new float[l.size()];
        for (int i = 0; i < f.length; i++) {
            f[i] = ((Number) l.get(i)).floatValue();
        }
        return f;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Preprocessing p && p.toConfig().equals(toConfig());
    }

    @Override
    public int hashCode() {
        return toConfig().hashCode();
    }
}
