package dev.osprey.callbacks;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeSet;

/**
 * Keras' CSVLogger: one line per epoch with the epoch number (0-based) and every figure of that epoch's logs (loss,
 * accuracy, val_loss, ..., learning_rate), the columns sorted by name after "epoch". Each line is appended as its
 * epoch ends and the file closed again, so a run that dies keeps the epochs it finished and holds no file open. The
 * columns are those of the first epoch; a figure missing later is written "NA". With append, a file that already has
 * lines gets no second header.
 */
public final class CSVLogger implements Callback {
    private final Path file;
    private final String separator;
    private final boolean append;
    private List<String> columns;

    /** Writes a new file (replacing one that exists), comma-separated. */
    public CSVLogger(Path file) {
        this(file, ",", false);
    }

    /** separator: between fields; append: continue an existing file instead of replacing it. */
    public CSVLogger(Path file, String separator, boolean append) {
        if (separator == null || separator.isEmpty() || separator.contains("\n")) {
            throw new IllegalArgumentException("CSVLogger: expected a non-empty separator without line breaks, "
                    + "received " + (separator == null ? "null" : "'" + separator + "'"));
        }
        this.file = file;
        this.separator = separator;
        this.append = append;
    }

    @Override
    public void onTrainBegin(Training training) {
        try {
            Path parent = file.toAbsolutePath().getParent();
            if (parent != null) {
                Files.createDirectories(parent);
            }
            boolean continuing = append && Files.exists(file) && Files.size(file) > 0;
            if (!continuing) {
                Files.write(file, new byte[0]); // a new file, or an old one emptied
            }
            columns = continuing ? existingColumns() : null;
        } catch (IOException e) {
            throw new UncheckedIOException("CSVLogger: could not open " + file + ": " + e.getMessage(), e);
        }
    }

    /** The header of the file being continued, without "epoch", or null when it has none. */
    private List<String> existingColumns() throws IOException {
        try (var lines = Files.lines(file, StandardCharsets.UTF_8)) {
            String header = lines.findFirst().orElse("");
            String[] fields = header.split(java.util.regex.Pattern.quote(separator), -1);
            if (fields.length == 0 || !fields[0].equals("epoch")) {
                return null;
            }
            return List.of(fields).subList(1, fields.length);
        }
    }

    @Override
    public void onEpochEnd(int epoch, Map<String, Double> logs, Training training) {
        try (BufferedWriter out = Files.newBufferedWriter(file, StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                StandardOpenOption.APPEND)) {
            if (columns == null) {
                columns = new ArrayList<>(new TreeSet<>(logs.keySet()));
                out.write("epoch" + (columns.isEmpty() ? "" : separator) + String.join(separator, columns));
                out.newLine();
            }
            StringBuilder line = new StringBuilder().append(epoch);
            for (String c : columns) {
                Double v = logs.get(c);
                line.append(separator).append(v == null ? "NA" : String.format(Locale.ROOT, "%s", v));
            }
            out.write(line.toString());
            out.newLine();
        } catch (IOException e) {
            throw new UncheckedIOException("CSVLogger: could not write " + file + ": " + e.getMessage(), e);
        }
    }
}
