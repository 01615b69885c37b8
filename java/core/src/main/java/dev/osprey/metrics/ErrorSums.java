package dev.osprey.metrics;

/**
 * The sums behind the errors (mae, mse, root_mean_squared_error) of one output over an epoch or an evaluation, as the
 * backend's error-sum op and the tail of its classification counts accumulate them: per row, the sum of |score -
 * target| and of (score - target)^2 over the row's values, and the row itself (1). The epoch's row i adds to lane
 * i % {@link #LANES} of each, whatever the batches, so each float sum holds a 256th of the rows and stays close to
 * the exact sum: the lanes are added up in double when read. A million rows of equal errors stay within 0.1%; one
 * float drifts 0.7%. Laid out as {@link #LANES} absolute sums, then as many squared sums, then as many row counts
 * ({@link #SIZE} floats); row counts stay exact up to 2^24 rows a lane (4 billion rows).
 */
public record ErrorSums(double absolute, double squared, long rows) {
    /** Lanes of each sum: rows r and r + LANES add to the same float. */
    public static final int LANES = 256;
    /** Floats the sums take. */
    public static final int SIZE = 3 * LANES;

    /** Reads the sums laid out at offset of values. */
    public static ErrorSums read(float[] values, int offset) {
        if (offset < 0 || offset + SIZE > values.length) {
            throw new IllegalArgumentException("expected " + SIZE + " error sums at " + offset + ", received "
                    + values.length + " values");
        }
        double absolute = 0;
        double squared = 0;
        long rows = 0;
        for (int lane = 0; lane < LANES; lane++) {
            absolute += values[offset + lane];
            squared += values[offset + LANES + lane];
            rows += (long) values[offset + 2 * LANES + lane];
        }
        return new ErrorSums(absolute, squared, rows);
    }

    /** The error metric for an output of width values a row (NaN without rows); throws for other metrics. */
    public double value(Metric metric, int width) {
        double values = (double) rows * width;
        if (rows == 0) {
            return Double.NaN;
        }
        return switch (metric) {
            case MEAN_ABSOLUTE_ERROR -> absolute / values;
            case MEAN_SQUARED_ERROR -> squared / values;
            case ROOT_MEAN_SQUARED_ERROR -> Math.sqrt(squared / values);
            default -> throw new IllegalArgumentException("expected an error metric (mae, mse, "
                    + "root_mean_squared_error), received " + metric.kerasName());
        };
    }
}
