package dev.osprey.callbacks;

import java.io.PrintStream;
import java.util.Locale;
import java.util.Map;

/**
 * Keras-style progress: "Epoch 3/10" then "1875/1875 [=====] - 12s 6ms/step - loss: 0.5100 - accuracy: 0.8100".
 * On a terminal the line updates in place about ten times a second; otherwise one line per epoch is printed.
 */
public final class ProgressBar implements Callback {
    private static final int WIDTH = 30;
    private static final long REFRESH_NANOS = 100_000_000L;

    private final PrintStream out;
    private final boolean interactive;
    private final long refreshNanos;
    private long lastRefresh;
    private int firstBatch = -1; // the epoch's first batch seen: above 0 where fit resumed part way
    private int lastBatch = -1; // the epoch's last batch trained (-1: none yet)

    /**
     * Prints to {@code out}; {@code interactive} redraws the line in place during each epoch, otherwise one line per
     * epoch is printed.
     */
    public ProgressBar(PrintStream out, boolean interactive) {
        this(out, interactive, REFRESH_NANOS);
    }

    /** Tests: redraws the interactive line at most every refreshNanos (0: after every batch). */
    ProgressBar(PrintStream out, boolean interactive, long refreshNanos) {
        this.out = out;
        this.interactive = interactive;
        this.refreshNanos = refreshNanos;
    }

    /** Prints to standard output, in place when it is a terminal. */
    public static ProgressBar toStandardOutput() {
        return new ProgressBar(System.out, System.console() != null);
    }

    @Override
    public void onEpochBegin(int epoch, Training training) {
        out.println("Epoch " + (epoch + 1) + "/" + training.epochs());
        lastRefresh = System.nanoTime();
        firstBatch = -1;
        lastBatch = -1;
    }

    @Override
    public void onBatchEnd(int batch, Training training) {
        if (firstBatch < 0) { // an epoch resumed from a backup starts part way
            firstBatch = batch;
        }
        lastBatch = batch;
        if (!interactive) {
            return;
        }
        long now = System.nanoTime();
        if (now - lastRefresh < refreshNanos) {
            return;
        }
        lastRefresh = now;
        int done = batch + 1;
        int total = training.stepsPerEpoch();
        double seconds = training.epochSeconds();
        double eta = seconds / (done - firstBatch) * (total - done);
        String accuracyName = training.accuracyName(); // null where accuracy was not compiled
        double accuracy = accuracyName == null ? Double.NaN : training.accuracy(); // NaN where no output classifies
        out.print("\r" + counter(done, total) + " " + bar(done, total) + " - ETA: " + duration(eta)
                + " - loss: " + figure(training.loss())
                + (Double.isNaN(accuracy) ? "" : " - " + accuracyName + ": " + figure(accuracy)));
        out.flush();
    }

    @Override
    public void onEpochEnd(int epoch, Map<String, Double> logs, Training training) {
        int total = training.stepsPerEpoch();
        int done = lastBatch < 0 ? total : lastBatch + 1; // fewer where a callback stopped training within the epoch
        double seconds = training.epochSeconds();
        StringBuilder line = new StringBuilder();
        int trained = Math.max(1, done - Math.max(firstBatch, 0));
        line.append(counter(done, total)).append(' ').append(bar(done, total)).append(" - ")
                .append(duration(seconds)).append(' ').append(perStep(seconds / trained));
        logs.forEach((k, v) -> line.append(" - ").append(k).append(": ").append(figure(v)));
        double wait = training.dataWaitShare();
        if (wait > 0) {
            line.append(String.format(Locale.ROOT, " - data wait: %.1f%%", 100 * wait));
        }
        out.print((interactive ? "\r" : "") + line + (interactive ? "\033[K" : "") + System.lineSeparator());
        out.flush();
    }

    /** A figure as Keras' progress bar shows it: 4 decimals, or 4 significant digits (1.0000e-05) at 0.001 or less. */
    static String figure(double v) {
        return String.format(Locale.ROOT, Math.abs(v) > 1e-3 || Double.isNaN(v) ? "%.4f" : "%.4e", v);
    }

    static String counter(int done, int total) {
        String t = Integer.toString(total);
        return String.format(Locale.ROOT, "%" + t.length() + "d/%s", done, t);
    }

    static String bar(int done, int total) {
        int filled = (int) ((long) WIDTH * done / total);
        StringBuilder b = new StringBuilder("[");
        for (int i = 0; i < WIDTH; i++) {
            b.append(i < filled ? '=' : (i == filled && done < total ? '>' : '.'));
        }
        return b.append(']').toString();
    }

    static String duration(double seconds) {
        if (seconds >= 3600) {
            return String.format(Locale.ROOT, "%d:%02d:%02d", (long) seconds / 3600, (long) seconds / 60 % 60, (long) seconds % 60);
        }
        if (seconds >= 60) {
            return String.format(Locale.ROOT, "%d:%02d", (long) seconds / 60, (long) seconds % 60);
        }
        return Math.round(seconds) + "s";
    }

    static String perStep(double seconds) {
        if (seconds >= 1) {
            return String.format(Locale.ROOT, "%.0fs/step", seconds);
        }
        if (seconds >= 1e-3) {
            return String.format(Locale.ROOT, "%.0fms/step", seconds * 1e3);
        }
        return String.format(Locale.ROOT, "%.0fus/step", seconds * 1e6);
    }
}
