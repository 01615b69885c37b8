package dev.osprey.onnx;

import com.google.protobuf.ByteString;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import onnx.Onnx.TensorProto;

/**
 * The values of an ONNX tensor, read once: floating-point types as float[], integer types as long[] (shape
 * arithmetic), with the dims. Sizes are checked against the dims before anything is allocated.
 */
final class TensorData {
    /** A dim standing for the batch, which an ONNX Shape op yields for the first axis of a model's input. */
    static final long BATCH = Long.MIN_VALUE;
    /** The most values one tensor may hold: 2^31 - 1, what a Java array can. */
    static final long MAX_VALUES = Integer.MAX_VALUE - 8;

    final long[] dims;
    final float[] floats; // or null
    final long[] ints;    // or null

    private TensorData(long[] dims, float[] floats, long[] ints) {
        this.dims = dims;
        this.floats = floats;
        this.ints = ints;
    }

    static TensorData ofFloats(long[] dims, float[] values) {
        return new TensorData(dims, values, null);
    }

    static TensorData ofInts(long[] dims, long[] values) {
        return new TensorData(dims, null, values);
    }

    int size() {
        return floats != null ? floats.length : ints.length;
    }

    int rank() {
        return dims.length;
    }

    boolean isScalarLike() {
        return size() == 1;
    }

    /** The values as floats (integers converted). */
    float[] asFloats() {
        if (floats != null) {
            return floats;
        }
        float[] f = new float[ints.length];
        for (int i = 0; i < f.length; i++) {
            f[i] = ints[i];
        }
        return f;
    }

    /** The values as integers: integer tensors as they are, float tensors only where every value is whole. */
    long[] asInts(String what) throws OnnxImportException {
        if (ints != null) {
            return ints;
        }
        long[] l = new long[floats.length];
        for (int i = 0; i < l.length; i++) {
            if (floats[i] != Math.rint(floats[i])) {
                throw new OnnxImportException(what + ": expected whole numbers, received " + floats[i]);
            }
            l[i] = (long) floats[i];
        }
        return l;
    }

    /** a * b for sizes >= 0, or Long.MAX_VALUE where it would pass 2^63 - 1 (never a wrapped, smaller figure). */
    static long product(long a, long b) {
        long p = a * b;
        return Math.multiplyHigh(a, b) != 0 || p < 0 ? Long.MAX_VALUE : p;
    }

    String shapeString() {
        return Arrays.toString(dims);
    }

    /**
     * Reads a tensor of an ONNX file. External data is read from modelDir only: a location that leaves it (absolute,
     * "..", or a link pointing out) is refused.
     */
    static TensorData read(TensorProto t, Path modelDir, String what) throws OnnxImportException {
        long[] dims = new long[t.getDimsCount()];
        long count = 1;
        for (int i = 0; i < dims.length; i++) {
            dims[i] = t.getDims(i);
            if (dims[i] < 0) {
                throw new OnnxImportException(what + ": expected dims >= 0, received " + t.getDimsList());
            }
            count = product(count, dims[i]);
            if (count > MAX_VALUES) {
                throw new OnnxImportException(what + ": dims " + t.getDimsList() + " hold more than " + MAX_VALUES
                        + " values");
            }
        }
        int n = (int) count;
        int type = t.getDataType();
        int width = switch (type) {
            case TensorProto.DataType.FLOAT_VALUE, TensorProto.DataType.INT32_VALUE -> 4;
            case TensorProto.DataType.DOUBLE_VALUE, TensorProto.DataType.INT64_VALUE -> 8;
            case TensorProto.DataType.BOOL_VALUE, TensorProto.DataType.UINT8_VALUE, TensorProto.DataType.INT8_VALUE -> 1;
            default -> throw new OnnxImportException(what + ": expected a tensor of type float, double, int32, int64, "
                    + "int8, uint8 or bool, received " + typeName(type));
        };
        ByteBuffer raw = null;
        if (t.getDataLocation() == TensorProto.DataLocation.EXTERNAL) {
            raw = external(t, modelDir, (long) n * width, what);
        } else if (t.hasRawData()) {
            ByteString bytes = t.getRawData();
            if (bytes.size() != (long) n * width) {
                throw new OnnxImportException(what + ": dims " + t.getDimsList() + " of " + typeName(type) + " need "
                        + (long) n * width + " bytes, received " + bytes.size());
            }
            raw = bytes.asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
        }
        boolean floating = type == TensorProto.DataType.FLOAT_VALUE || type == TensorProto.DataType.DOUBLE_VALUE;
        // the values given are counted before the array they fill is made: a tensor's dims are only its file's claim
        if (raw == null) {
            requireCount(what, t, floating ? (width == 4 ? t.getFloatDataCount() : t.getDoubleDataCount())
                    : type == TensorProto.DataType.INT64_VALUE ? t.getInt64DataCount() : t.getInt32DataCount(), n);
        }
        if (floating) {
            float[] v = new float[n];
            if (raw != null) {
                for (int i = 0; i < n; i++) {
                    v[i] = width == 4 ? raw.getFloat() : (float) raw.getDouble();
                }
            } else {
                for (int i = 0; i < n; i++) {
                    v[i] = width == 4 ? t.getFloatData(i) : (float) t.getDoubleData(i);
                }
            }
            return ofFloats(dims, v);
        }
        long[] v = new long[n];
        if (raw != null) {
            for (int i = 0; i < n; i++) {
                v[i] = switch (width) {
                    case 8 -> raw.getLong();
                    case 4 -> raw.getInt();
                    default -> type == TensorProto.DataType.INT8_VALUE ? raw.get() : raw.get() & 0xff;
                };
            }
        } else if (type == TensorProto.DataType.INT64_VALUE) {
            for (int i = 0; i < n; i++) {
                v[i] = t.getInt64Data(i);
            }
        } else {
            for (int i = 0; i < n; i++) {
                v[i] = t.getInt32Data(i);
            }
        }
        return ofInts(dims, v);
    }

    private static void requireCount(String what, TensorProto t, int given, int n) throws OnnxImportException {
        if (given != n) {
            throw new OnnxImportException(what + ": dims " + t.getDimsList() + " need " + n + " values, received "
                    + given);
        }
    }

    private static ByteBuffer external(TensorProto t, Path modelDir, long bytes, String what)
            throws OnnxImportException {
        String location = null;
        long offset = 0;
        long length = -1;
        for (var e : t.getExternalDataList()) {
            switch (e.getKey()) {
                case "location" -> location = e.getValue();
                case "offset" -> offset = parseLong(what, "offset", e.getValue());
                case "length" -> length = parseLong(what, "length", e.getValue());
                default -> { } // "checksum" and future keys do not change the bytes read
            }
        }
        if (location == null || location.isEmpty()) {
            throw new OnnxImportException(what + ": external data without a location");
        }
        if (modelDir == null) {
            throw new OnnxImportException(what + ": external data ('" + location + "') needs the model's folder");
        }
        if (length >= 0 && length != bytes) {
            throw new OnnxImportException(what + ": dims " + t.getDimsList() + " need " + bytes
                    + " bytes, external data declares " + length);
        }
        try {
            Path dir = modelDir.toRealPath();
            Path file = dir.resolve(location).normalize();
            if (Path.of(location).isAbsolute() || !file.startsWith(dir)) {
                throw new OnnxImportException(what + ": external data location '" + location
                        + "' is outside the model's folder " + dir + "; expected a file inside it");
            }
            // resolved whole: a link anywhere on the way (a linked folder too, not only the file) must stay inside
            if (!file.toRealPath().startsWith(dir)) {
                throw new OnnxImportException(what + ": external data location '" + location
                        + "' links outside the model's folder " + dir);
            }
            if (bytes > Integer.MAX_VALUE - 8) {
                throw new OnnxImportException(what + ": dims " + t.getDimsList() + " need " + bytes + " bytes of "
                        + "external data; expected at most " + (Integer.MAX_VALUE - 8) + " for one tensor");
            }
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
                if (offset < 0 || offset > ch.size() || ch.size() - offset < bytes) {
                    throw new OnnxImportException(what + ": external data '" + location + "' holds " + ch.size()
                            + " bytes; expected " + bytes + " at offset " + offset);
                }
                ByteBuffer buf = ByteBuffer.allocate((int) bytes).order(ByteOrder.LITTLE_ENDIAN);
                while (buf.hasRemaining()) {
                    if (ch.read(buf, offset + buf.position()) < 0) {
                        throw new OnnxImportException(what + ": external data '" + location + "' ended early");
                    }
                }
                return buf.flip();
            }
        } catch (OnnxImportException e) {
            throw e;
        } catch (IOException e) {
            throw new OnnxImportException(what + ": cannot read external data '" + location + "': " + e, e);
        }
    }

    private static long parseLong(String what, String key, String value) throws OnnxImportException {
        try {
            return Long.parseLong(value);
        } catch (NumberFormatException e) {
            throw new OnnxImportException(what + ": external data " + key + " expected a whole number, received '"
                    + value + "'");
        }
    }

    static String typeName(int type) {
        TensorProto.DataType d = TensorProto.DataType.forNumber(type);
        return d == null ? "type " + type : d.name().toLowerCase(java.util.Locale.ROOT);
    }
}
