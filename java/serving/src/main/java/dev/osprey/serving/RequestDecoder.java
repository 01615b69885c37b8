package dev.osprey.serving;

import dev.osprey.Shape;
import dev.osprey.io.Json;
import dev.osprey.data.images.Augmentation;
import dev.osprey.data.images.ImageDecodeException;
import dev.osprey.data.images.ImageDecoder;
import dev.osprey.data.images.Preprocessing;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Turns a request body into model inputs: JSON {"instances": [[...], ...]} or {"instance": [...]} (numbers,
 * nested any way, one sample each), raw little-endian float32 (application/octet-stream), or an image file
 * (image/png, image/jpeg, image/bmp) decoded exactly as the model's training data was (its saved preprocessing;
 * for models trained on arrays: grey or colour to match the channels, resized, scaled to [0, 1]).
 * A sample may also be a JSON object of the model's inputs by name ({"image": [...], "meta": [...]}, as TensorFlow
 * Serving's rows), which a model of several inputs requires: it takes JSON only.
 * Each sample decodes to its values for every input, in the model's order.
 * Bad input is a {@link BadRequest} with a message.
 */
final class RequestDecoder {
    /** A request the client must fix: answered with this status (400 unless said) and message. */
    static final class BadRequest extends Exception {
        private final int status;

        BadRequest(String message) {
            this(400, message);
        }

        BadRequest(int status, String message) {
            super(message);
            this.status = status;
        }

        /** The HTTP status: 400, or 415 for a Content-Type the server does not read. */
        int status() {
            return status;
        }
    }

    private static final String NON_FINITE_HINT = " (a server started with --allow-non-finite accepts them)";

    private final List<String> names;
    private final List<Shape> shapes;
    private final Shape input; // the first input's shape
    private final int sampleSize; // the first input's size
    private final Preprocessing preprocessing; // null when the model takes no images
    private final boolean allowNonFinite;
    private final ThreadLocal<ImageDecoder> decoders = ThreadLocal.withInitial(ImageDecoder::new);

    /** For a model of one input, named "input". */
    RequestDecoder(Shape input, Preprocessing saved, boolean allowNonFinite) {
        this(List.of("input"), List.of(input), saved, allowNonFinite);
    }

    /** For a model of these inputs (names and sample shapes in the model's order). */
    RequestDecoder(List<String> names, List<Shape> shapes, Preprocessing saved, boolean allowNonFinite) {
        if (names.isEmpty() || names.size() != shapes.size()) {
            throw new IllegalArgumentException("RequestDecoder: expected a shape for each of one or more inputs, "
                    + "received " + names.size() + " names and " + shapes.size() + " shapes");
        }
        this.names = List.copyOf(names);
        this.shapes = List.copyOf(shapes);
        this.input = shapes.get(0);
        this.allowNonFinite = allowNonFinite;
        this.sampleSize = input.size();
        this.preprocessing = shapes.size() > 1 ? null : saved != null ? saved
                : input.rank() == 3 && (input.dim(2) == 1 || input.dim(2) == 3)
                ? Preprocessing.scaled(input.dim(0), input.dim(1),
                        input.dim(2) == 3 ? Preprocessing.ColorMode.RGB : Preprocessing.ColorMode.GRAYSCALE)
                : null;
    }

    /** Each sample's values for every input, in the model's input order. */
    List<float[][]> decode(String contentType, byte[] body) throws BadRequest {
        if (body.length == 0) {
            throw new BadRequest("expected a request body (JSON, float32 bytes or an image), received an empty one");
        }
        String type = contentType == null ? "" : contentType.toLowerCase(Locale.ROOT).split(";")[0].trim();
        if (type.equals("application/json")) {
            return json(body);
        }
        if (names.size() > 1) {
            throw new BadRequest(415, "this model takes " + names.size() + " inputs " + names
                    + ": expected Content-Type application/json with each sample an object of them by name, received '"
                    + (contentType == null ? "" : shortened(contentType)) + "'");
        }
        if (type.equals("application/octet-stream")) {
            return float32(body);
        }
        if (type.startsWith("image/")) {
            return List.<float[][]>of(new float[][] {image(body)});
        }
        throw new BadRequest(415, "expected Content-Type application/json, application/octet-stream or image/*, received '"
                + (contentType == null ? "" : shortened(contentType)) + "'");
    }

    private List<float[][]> json(byte[] body) throws BadRequest {
        Object doc;
        try {
            doc = Json.parse(body, 0, body.length, allowNonFinite);
        } catch (IllegalArgumentException e) {
            throw new BadRequest(e.getMessage() + (e.getMessage().contains("JSON has no NaN") ? NON_FINITE_HINT : ""));
        }
        if (!(doc instanceof Map<?, ?> map) || !(map.containsKey("instances") || map.containsKey("instance"))) {
            throw new BadRequest("expected a JSON object with \"instances\" (a list of samples) or \"instance\"");
        }
        List<Object> samples = new ArrayList<>();
        if (map.containsKey("instance")) {
            samples.add(map.get("instance"));
        } else if (map.get("instances") instanceof List<?> list) {
            samples.addAll(list);
        } else {
            throw new BadRequest("expected \"instances\" to be a list of samples");
        }
        if (samples.isEmpty()) {
            throw new BadRequest("expected at least one sample, received none");
        }
        List<float[][]> out = new ArrayList<>();
        for (int i = 0; i < samples.size(); i++) {
            Object sample = samples.get(i);
            out.add(sample instanceof Map<?, ?> inputs ? byName(inputs, i) : new float[][] {unnamed(sample, i)});
        }
        return out;
    }

    /** A sample given as numbers: the values of a model of one input. */
    private float[] unnamed(Object sample, int i) throws BadRequest {
        if (names.size() > 1) {
            throw new BadRequest("sample " + i + ": this model takes " + names.size() + " inputs " + names
                    + ": expected an object of them by name, received " + (sample instanceof List ? "a list"
                    : sample == null ? "null" : "'" + shortened(sample) + "'"));
        }
        return values(sample, 0, i);
    }

    /** A sample given as an object of the inputs by name: every input, nothing else. */
    private float[][] byName(Map<?, ?> sample, int i) throws BadRequest {
        for (Object key : sample.keySet()) {
            if (!names.contains(key)) {
                throw new BadRequest("sample " + i + ": expected the inputs " + names + ", received an input named '"
                        + shortened(key) + "' this model lacks");
            }
        }
        float[][] inputs = new float[names.size()][];
        for (int in = 0; in < inputs.length; in++) {
            Object values = sample.get(names.get(in));
            if (values == null) {
                throw new BadRequest("sample " + i + ": expected the inputs " + names + ", received "
                        + (sample.containsKey(names.get(in)) ? "null" : "none") + " for '" + names.get(in) + "' (shape "
                        + shapes.get(in) + ")");
            }
            inputs[in] = values(values, in, i);
        }
        return inputs;
    }

    /** One input's values for a sample, flattened from numbers nested any way. */
    private float[] values(Object node, int in, int i) throws BadRequest {
        int size = shapes.get(in).size();
        float[] values = new float[size];
        String sample = names.size() > 1 ? i + " (input '" + names.get(in) + "')" : String.valueOf(i);
        int n = flatten(node, values, 0, sample);
        if (n != size) {
            throw new BadRequest("sample " + i + ": expected " + size + " numbers " + (names.size() > 1 ? "for input '"
                    + names.get(in) + "' " : "") + "(shape " + shapes.get(in) + "), received " + n);
        }
        return values;
    }

    /** Flattens numbers nested any way into into from at; sample names the sample (and input) in errors. */
    private int flatten(Object node, float[] into, int at, String sample) throws BadRequest {
        if (node instanceof Number number) {
            double v = number.doubleValue();
            float f = (float) v; // 1e39 is a finite double but an infinite float32
            if (!Float.isFinite(f) && !allowNonFinite) {
                throw new BadRequest("sample " + sample + ": expected finite float32 numbers, received " + v
                        + (Double.isFinite(v) ? " (beyond float32's range)" : "") + NON_FINITE_HINT);
            }
            if (at < into.length) {
                into[at] = f;
            }
            return at + 1;
        }
        if (node instanceof List<?> list) {
            int n = at;
            for (Object child : list) {
                n = flatten(child, into, n, sample);
            }
            return n;
        }
        throw new BadRequest("sample " + sample + ": expected numbers, received "
                + (node == null ? "null" : "'" + shortened(node) + "'"));
    }

    /** What a client sent, echoed in an error: at most 100 characters of it. */
    private static String shortened(Object sent) {
        String text = String.valueOf(sent);
        return text.length() <= 100 ? text : text.substring(0, 100) + "... (" + text.length() + " characters)";
    }

    private List<float[][]> float32(byte[] body) throws BadRequest {
        int bytesPerSample = sampleSize * Float.BYTES;
        if (body.length % bytesPerSample != 0) {
            throw new BadRequest("expected float32 data in whole samples of " + bytesPerSample + " bytes (shape " + input
                    + "), received " + body.length + " bytes");
        }
        ByteBuffer b = ByteBuffer.wrap(body).order(ByteOrder.LITTLE_ENDIAN);
        List<float[][]> out = new ArrayList<>();
        for (int s = 0; s < body.length / bytesPerSample; s++) {
            float[] values = new float[sampleSize];
            b.asFloatBuffer().position(s * sampleSize).get(values);
            if (!allowNonFinite) {
                for (int i = 0; i < values.length; i++) {
                    if (!Float.isFinite(values[i])) {
                        throw new BadRequest("sample " + s + ": expected finite numbers, received " + values[i]
                                + " at index " + i + NON_FINITE_HINT);
                    }
                }
            }
            out.add(new float[][] {values});
        }
        return out;
    }

    private float[] image(byte[] body) throws BadRequest {
        if (preprocessing == null) {
            throw new BadRequest("this model takes input " + input + ", not images");
        }
        float[] values = new float[sampleSize];
        try {
            decoders.get().decode(body, "the uploaded image", preprocessing, Augmentation.Params.IDENTITY,
                    Augmentation.FillMode.CONSTANT, values, 0);
        } catch (ImageDecodeException e) {
            throw new BadRequest(e.getMessage());
        }
        return values;
    }
}
