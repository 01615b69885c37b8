package dev.osprey.charts;

import dev.osprey.History;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.style.Styler;

/** PNG charts drawn with XChart: training curves, and benchmark figures per device and batch size. */
public final class Charts {
    private static final int WIDTH = 640;
    private static final int HEIGHT = 420;

    private Charts() {
    }

    /** Loss (left) and accuracy (right) per epoch, training and validation, side by side in one PNG. */
    public static void trainingCurves(History history, Path png) throws IOException {
        Map<String, List<Double>> h = history.history();
        List<Integer> epochs = history.epochIndices().stream().map(e -> e + 1).toList(); // a resumed run's own numbers
        List<BufferedImage> panels = new ArrayList<>();
        panels.add(curves("Loss", "loss", epochs, h.get("loss"), h.get("val_loss")));
        if (h.containsKey("accuracy")) {
            panels.add(curves("Accuracy", "accuracy", epochs, h.get("accuracy"), h.get("val_accuracy")));
        }
        BufferedImage out = new BufferedImage(WIDTH * panels.size(), HEIGHT, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = out.createGraphics();
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, out.getWidth(), out.getHeight());
        for (int i = 0; i < panels.size(); i++) {
            g.drawImage(panels.get(i), i * WIDTH, 0, null);
        }
        g.dispose();
        write(out, png);
    }

    /**
     * The confusion matrix as a grid: true classes down, predicted across, each cell shaded by its share of the row
     * (the row's recall on the diagonal) and labeled with its count.
     */
    public static void confusionMatrix(dev.osprey.metrics.ClassificationReport report, Path png) throws IOException {
        long[][] m = report.confusionMatrix();
        List<String> names = report.classNames();
        int n = m.length;
        int cell = Math.max(36, Math.min(64, 640 / Math.max(1, n)));
        int label = 12 + 7 * names.stream().mapToInt(String::length).max().orElse(1);
        int top = 40 + label;
        int width = label + 20 + n * cell + 20;
        int height = top + n * cell + 40;
        BufferedImage out = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = out.createGraphics();
        g.setRenderingHint(java.awt.RenderingHints.KEY_TEXT_ANTIALIASING, java.awt.RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, width, height);
        g.setColor(Color.BLACK);
        g.setFont(g.getFont().deriveFont(java.awt.Font.BOLD, 14f));
        g.drawString(String.format(java.util.Locale.ROOT, "Confusion matrix (rows: true class, columns: predicted); "
                + "accuracy %.4f", report.accuracy()), 10, 22);
        g.setFont(g.getFont().deriveFont(java.awt.Font.PLAIN, 11f));
        int left = label + 20;
        for (int r = 0; r < n; r++) {
            long rowTotal = 0;
            for (long v : m[r]) {
                rowTotal += v;
            }
            g.setColor(Color.BLACK);
            g.drawString(names.get(r), 8, top + r * cell + cell / 2 + 4);
            for (int c = 0; c < n; c++) {
                double share = rowTotal == 0 ? 0 : (double) m[r][c] / rowTotal;
                int shade = 255 - (int) Math.round(200 * share);
                g.setColor(r == c ? new Color(shade, 255, shade) : new Color(255, shade, shade));
                g.fillRect(left + c * cell, top + r * cell, cell, cell);
                g.setColor(Color.GRAY);
                g.drawRect(left + c * cell, top + r * cell, cell, cell);
                g.setColor(Color.BLACK);
                String count = Long.toString(m[r][c]);
                g.drawString(count, left + c * cell + (cell - g.getFontMetrics().stringWidth(count)) / 2,
                        top + r * cell + cell / 2 + 4);
            }
        }
        java.awt.geom.AffineTransform plain = g.getTransform();
        for (int c = 0; c < n; c++) { // column names, rotated
            g.setTransform(plain);
            g.rotate(-Math.PI / 2, left + c * cell + cell / 2 + 4, top - 6);
            g.drawString(names.get(c), left + c * cell + cell / 2 + 4, top - 6);
        }
        g.setTransform(plain);
        g.dispose();
        write(out, png);
    }

    private static BufferedImage curves(String title, String metric, List<Integer> epochs, List<Double> train,
                                        List<Double> validation) {
        XYChart chart = new XYChartBuilder().width(WIDTH).height(HEIGHT).title(title).xAxisTitle("epoch")
                .yAxisTitle(metric).build();
        chart.getStyler().setLegendPosition(metric.equals("loss") ? Styler.LegendPosition.InsideNE
                : Styler.LegendPosition.InsideSE).setMarkerSize(6)
                .setChartBackgroundColor(Color.WHITE);
        chart.addSeries("training", epochs, train);
        if (validation != null) {
            chart.addSeries("validation", epochs, validation);
        }
        return BitmapEncoder.getBufferedImage(chart);
    }

    /**
     * Grouped bars: one group per figure (e.g. "train b32"), one bar per device.
     *
     * @param values device name -> values in the order of {@code figures}
     */
    public static void bars(String title, String yAxis, List<String> figures, Map<String, List<Double>> values, Path png)
            throws IOException {
        CategoryChart chart = new CategoryChartBuilder().width(WIDTH + 160).height(HEIGHT).title(title)
                .yAxisTitle(yAxis).build();
        chart.getStyler().setLabelsVisible(true).setLabelsFontColorAutomaticEnabled(false)
                .setLabelsFontColor(Color.BLACK).setLabelsRotation(0);
        chart.getStyler().setLegendPosition(Styler.LegendPosition.InsideNW).setChartBackgroundColor(Color.WHITE)
                .setDecimalPattern("#,###");
        values.forEach((device, v) -> chart.addSeries(device, figures, v));
        write(BitmapEncoder.getBufferedImage(chart), png);
    }

    private static void write(BufferedImage image, Path png) throws IOException {
        Path absolute = png.toAbsolutePath();
        Files.createDirectories(absolute.getParent());
        if (!ImageIO.write(image, "png", absolute.toFile())) {
            throw new IOException("no PNG writer available for " + png);
        }
    }
}
