package dev.osprey.spark;

import java.io.IOException;
import java.io.Serializable;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/**
 * Scores a Dataset with an Osprey model as an ordinary Spark job: rows of images (Spark's {@code binaryFile} source,
 * the image bytes in "content") or of float arrays (one sample each, the model's input size), predicted in batches
 * through {@code mapPartitions}. The model file is broadcast once; each executor loads it once and keeps it for later
 * tasks ({@link ExecutorModels}). Images are decoded with the model's own preprocessing (saved in the file), and
 * every batch has the same size (a partition's last one is padded), so a row's result does not depend on how Spark
 * partitioned the data: it equals {@code osprey predict --batch-size} of that size, bit for bit.
 *
 * <p>The output has the input's columns except the input column, then {@code label} (the class name),
 * {@code probability}, {@code topK} (an array of {label, probability}) and {@code error}: a row that can't be scored
 * (an unreadable image, a wrong-sized or non-finite array) gets its reason there and nulls elsewhere, and the job goes
 * on.
 */
public final class OspreyPredictor implements Serializable {
    private static final long serialVersionUID = 1L;
    /** binaryFile's column of file bytes. */
    public static final String CONTENT = "content";

    private final Broadcast<byte[]> modelBytes;
    private final String modelId;
    private String inputCol = CONTENT;
    private int batchSize = 256;
    private int topK = 3;

    private OspreyPredictor(Broadcast<byte[]> modelBytes, String modelId) {
        this.modelBytes = modelBytes;
        this.modelId = modelId;
    }

    /** Reads a model file on the driver and broadcasts it to the executors. */
    public static OspreyPredictor load(SparkSession spark, Path modelFile) throws IOException {
        byte[] bytes = Files.readAllBytes(modelFile);
        JavaSparkContext context = JavaSparkContext.fromSparkContext(spark.sparkContext());
        return new OspreyPredictor(context.broadcast(bytes), digest(bytes));
    }

    /** The column to score: binary image bytes ("content", the default) or an array of floats or doubles. */
    public OspreyPredictor inputCol(String column) {
        if (column == null || column.isBlank()) {
            throw new IllegalArgumentException("OspreyPredictor: expected an input column name, received '" + column
                    + "'");
        }
        this.inputCol = column;
        return this;
    }

    /** Rows per prediction batch (default 256); results equal single-process prediction at this batch size. */
    public OspreyPredictor batchSize(int rows) {
        if (rows <= 0) {
            throw new IllegalArgumentException("OspreyPredictor: expected a batch size > 0, received " + rows);
        }
        this.batchSize = rows;
        return this;
    }

    /** Entries in the topK column (default 3). */
    public OspreyPredictor topK(int k) {
        if (k <= 0) {
            throw new IllegalArgumentException("OspreyPredictor: expected top-k > 0, received " + k);
        }
        this.topK = k;
        return this;
    }

    /** The scored rows: see the class comment for the columns. Lazy, as Spark transformations are. */
    public Dataset<Row> transform(Dataset<Row> input) {
        StructType in = input.schema();
        int column = columnIndex(in);
        boolean images = in.fields()[column].dataType().equals(DataTypes.BinaryType);
        StructType out = outputSchema(in);
        int pathColumn = images && List.of(in.fieldNames()).contains("path") ? in.fieldIndex("path") : -1;
        Broadcast<byte[]> bytes = modelBytes;
        String id = modelId;
        PartitionScorer.Settings settings = new PartitionScorer.Settings(column, pathColumn, images, batchSize, topK);
        MapPartitionsFunction<Row, Row> score = rows -> PartitionScorer.score(rows, id, bytes::value, settings);
        return input.mapPartitions(score, Encoders.row(out));
    }

    /** The input's columns but the scored one, then label, probability, topK and error. */
    public StructType outputSchema(StructType input) {
        int column = columnIndex(input);
        List<StructField> fields = new ArrayList<>();
        for (int i = 0; i < input.fields().length; i++) {
            if (i != column) {
                fields.add(input.fields()[i]);
            }
        }
        for (String name : new String[] {"label", "probability", "topK", "error"}) {
            if (List.of(input.fieldNames()).contains(name)) {
                throw new IllegalArgumentException("OspreyPredictor: the input already has a column '" + name
                        + "'; rename it first");
            }
        }
        fields.add(DataTypes.createStructField("label", DataTypes.StringType, true));
        fields.add(DataTypes.createStructField("probability", DataTypes.FloatType, true));
        fields.add(DataTypes.createStructField("topK", DataTypes.createArrayType(DataTypes.createStructType(List.of(
                DataTypes.createStructField("label", DataTypes.StringType, false),
                DataTypes.createStructField("probability", DataTypes.FloatType, false))), false), true));
        fields.add(DataTypes.createStructField("error", DataTypes.StringType, true));
        return DataTypes.createStructType(fields);
    }

    private int columnIndex(StructType schema) {
        if (!List.of(schema.fieldNames()).contains(inputCol)) {
            throw new IllegalArgumentException("OspreyPredictor: expected an input column '" + inputCol
                    + "', received columns " + List.of(schema.fieldNames()));
        }
        int i = schema.fieldIndex(inputCol);
        DataType t = schema.fields()[i].dataType();
        boolean arrayOfNumbers = t instanceof ArrayType a && (a.elementType().equals(DataTypes.FloatType)
                || a.elementType().equals(DataTypes.DoubleType));
        if (!t.equals(DataTypes.BinaryType) && !arrayOfNumbers) {
            throw new IllegalArgumentException("OspreyPredictor: expected column '" + inputCol + "' to hold image "
                    + "bytes (binary) or samples (array<float> or array<double>), received " + t.simpleString());
        }
        return i;
    }

    private static String digest(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
    }
}
