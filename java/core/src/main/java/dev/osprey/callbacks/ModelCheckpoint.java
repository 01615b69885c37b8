package dev.osprey.callbacks;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Map;

/**
 * Saves the model after each epoch, or only when the monitored figure improved (saveBestOnly). The path may hold
 * Keras' fields: {@code {epoch}} (counted from 1) and any figure of the epoch's logs ({@code {val_loss}}), each with
 * an optional Python format ({@code {epoch:02d}}, {@code {val_loss:.2f}}: fill 0, width, precision, and d, f, e or
 * g), so that "ck-{epoch:02d}-{val_loss:.2f}.osprey" writes ck-03-0.41.osprey.
 */
public final class ModelCheckpoint implements Callback {
    private final Path path;
    private final String monitor;
    private final boolean saveBestOnly;
    private boolean maximize; // the monitored figure improves upwards (mode, or by its name)
    private double best;

    /**
     * Saves to {@code path} after every epoch or, with {@code saveBestOnly}, only when {@code monitor} improved
     * (upwards for accuracies, AUC, precision, recall and F1, downwards for losses: Keras' "auto" mode; {@link #mode}
     * sets it).
     */
    public ModelCheckpoint(Path path, String monitor, boolean saveBestOnly) {
        checkTemplate(path.toString());
        this.path = path;
        this.monitor = monitor;
        this.maximize = Monitor.isScore(monitor);
        this.saveBestOnly = saveBestOnly;
        this.best = maximize ? Double.NEGATIVE_INFINITY : Double.POSITIVE_INFINITY;
    }

    /** Keras' mode: "auto" (the default: by the figure's name), "min" or "max". */
    public ModelCheckpoint mode(String mode) {
        this.maximize = Monitor.higherIsBetter(monitor, mode, "ModelCheckpoint");
        this.best = maximize ? Double.NEGATIVE_INFINITY : Double.POSITIVE_INFINITY;
        return this;
    }

    /**
     * The best figure saved so far. It carries over from one fit to the next, as Keras' does: a fine-tuning fit after
     * a first one with the same checkpoint overwrites the best file only with a better model.
     */
    public double best() {
        return best;
    }

    @Override
    public void onEpochEnd(int epoch, Map<String, Double> logs, Training training) {
        if (saveBestOnly) {
            Double value = logs.get(monitor);
            if (value == null) {
                throw new IllegalArgumentException("ModelCheckpoint: expected to monitor one of " + logs.keySet()
                        + ", received '" + monitor + "'");
            }
            boolean improved = maximize ? value > best : value < best;
            if (!improved) {
                return;
            }
            best = value;
        }
        Path file = Path.of(fileName(path.toString(), epoch, logs)); // the whole path, as Keras fills it
        try {
            training.model().save(file);
        } catch (IOException e) {
            throw new UncheckedIOException("ModelCheckpoint: could not save " + file, e);
        }
    }

    private static final java.util.regex.Pattern FIELD = java.util.regex.Pattern.compile(
            "\\{([A-Za-z_][A-Za-z0-9_]*)(?::(0?)([1-9]\\d{0,2})?(?:\\.(\\d{1,2}))?([dfeg]?))?}");

    /**
     * Python's format(value, ".{precision}g"): precision significant digits, fixed notation for exponents from -4 to
     * precision - 1 and scientific (e+XX) otherwise, trailing zeros and a trailing point dropped.
     */
    static String general(double value, int precision) {
        if (value == 0 || !Double.isFinite(value)) {
            return value == 0 ? "0" : Double.isNaN(value) ? "nan" : value > 0 ? "inf" : "-inf";
        }
        java.math.BigDecimal rounded = new java.math.BigDecimal(value).round(new java.math.MathContext(precision));
        int exponent = rounded.precision() - rounded.scale() - 1;
        if (exponent >= -4 && exponent < precision) {
            String fixed = rounded.setScale(Math.max(0, precision - 1 - exponent), java.math.RoundingMode.HALF_EVEN)
                    .toPlainString();
            return fixed.contains(".") ? fixed.replaceAll("0+$", "").replaceAll("\\.$", "") : fixed;
        }
        String mantissa = rounded.movePointLeft(exponent).toPlainString();
        if (mantissa.contains(".")) {
            mantissa = mantissa.replaceAll("0+$", "").replaceAll("\\.$", "");
        }
        return mantissa + (exponent < 0 ? "e-" : "e+") + String.format(java.util.Locale.ROOT, "%02d", Math.abs(exponent));
    }

    /**
     * Refuses, before any training, a file name whose braces are not fields this class fills in ({name} or
     * {name:[0][width][.precision][d|f|e|g]}): they would be written literally, every epoch over the same file.
     */
    static void checkTemplate(String name) {
        String rest = FIELD.matcher(name).replaceAll("");
        if (rest.indexOf('{') >= 0 || rest.indexOf('}') >= 0) {
            throw new IllegalArgumentException("ModelCheckpoint: expected fields {name} or {name:format} (format: "
                    + "[0][width][.precision] then d, f, e or g) in the path, received '" + name + "'");
        }
        java.util.regex.Matcher m = FIELD.matcher(name);
        while (m.find()) {
            if ("0".equals(m.group(2)) && (m.group(3) == null || m.group(3).isEmpty())) {
                throw new IllegalArgumentException("ModelCheckpoint: a fill of 0 needs a width ({epoch:02d}), received '"
                        + m.group() + "' in '" + name + "'");
            }
        }
    }

    /** name with its {field[:format]} parts filled in from the 0-based epoch (written from 1) and the logs. */
    static String fileName(String name, int epoch, Map<String, Double> logs) {
        java.util.regex.Matcher m = FIELD.matcher(name);
        StringBuilder out = new StringBuilder();
        while (m.find()) {
            String key = m.group(1);
            Double value = key.equals("epoch") ? Double.valueOf(epoch + 1) : logs.get(key);
            if (value == null) {
                throw new IllegalArgumentException("ModelCheckpoint: the path's field {" + key + "} is none of "
                        + "epoch and " + logs.keySet());
            }
            String type = m.group(5) == null || m.group(5).isEmpty() ? (key.equals("epoch") ? "d" : "") : m.group(5);
            String text;
            if (type.isEmpty() && m.group(4) == null) {
                text = key.equals("epoch") ? Long.toString(Math.round(value)) : String.valueOf(value);
            } else if (type.isEmpty() || type.equals("g")) { // Python's general format, trailing zeros dropped
                text = general(value, m.group(4) == null ? 6 : Math.max(1, Integer.parseInt(m.group(4))));
                int width = m.group(3) == null ? 0 : Integer.parseInt(m.group(3));
                String fill = "0".equals(m.group(2)) ? "0" : " ";
                text = fill.repeat(Math.max(0, width - text.length())) + text;
            } else {
                String spec = "%" + (m.group(2) == null ? "" : m.group(2))
                        + (m.group(3) == null ? "" : m.group(3))
                        + (m.group(4) == null || type.equals("d") ? "" : "." + m.group(4)) + type;
                text = String.format(java.util.Locale.ROOT, spec, type.equals("d") ? (Object) Math.round(value)
                        : (Object) value);
            }
            m.appendReplacement(out, java.util.regex.Matcher.quoteReplacement(text));
        }
        m.appendTail(out);
        return out.toString();
    }
}
