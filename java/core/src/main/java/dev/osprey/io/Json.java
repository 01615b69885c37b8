package dev.osprey.io;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.exc.StreamConstraintsException;
import dev.osprey.Limits;
import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * JSON as plain Java values, on Jackson's streaming parser: objects (LinkedHashMap), arrays (List), strings,
 * numbers (Long, or Double for fractions and integers beyond a long), booleans and null. Strict and bounded:
 * duplicate keys, NaN tokens and trailing content are errors; a document deeper than
 * {@link Limits#maxJsonDepth()} or longer than {@link Limits#maxJsonBytes()} is refused before it costs more than
 * its own bytes. Errors say where (line and column) and what was wrong.
 */
public final class Json {
    private static volatile Factory factory;

    private record Factory(Limits limits, JsonFactory json) {
    }

    private Json() {
    }

    /** Where Jackson's messages quote a location, with its parser settings: line is group 1, column group 2. */
    private static final java.util.regex.Pattern SOURCE = java.util.regex.Pattern.compile(
            "\\[Source: [^;\\]]*(?:\\([^)]*\\))?[^;\\]]*; line: (\\d+), column: (\\d+)]");

    /** Jackson's message for NaN and the infinities where they are not allowed; the token is group 1. */
    private static final java.util.regex.Pattern NON_STANDARD = java.util.regex.Pattern.compile(
            "Non-standard token '([^']*)'");

    /**
     * The value of one JSON document (see the class comment for the Java types). Throws IllegalArgumentException,
     * saying where, for malformed JSON, and {@link Limits.LimitExceededException} for a document over the limits.
     */
    public static Object parse(String text) {
        return parse(text.getBytes(StandardCharsets.UTF_8));
    }

    /** The same, from UTF-8 bytes. */
    public static Object parse(byte[] utf8) {
        return parse(utf8, 0, utf8.length);
    }

    /** The same, from length UTF-8 bytes starting at offset (not copied). */
    public static Object parse(byte[] utf8, int offset, int length) {
        return parse(utf8, offset, length, false);
    }

    /**
     * The same; with nonFiniteNumbers, the tokens NaN, Infinity, +Infinity and -Infinity are read as the doubles they
     * name (JSON has no such numbers, but Python's json module writes them; JavaScript's JSON.stringify writes null).
     * Without it they are refused as malformed JSON, saying which token.
     */
    public static Object parse(byte[] utf8, int offset, int length, boolean nonFiniteNumbers) {
        Limits limits = Limits.current();
        Limits.check("JSON document bytes", length, "maxJsonBytes", limits.maxJsonBytes());
        try (JsonParser p = factory(limits).createParser(utf8, offset, length)) {
            if (nonFiniteNumbers) {
                p.enable(com.fasterxml.jackson.core.json.JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS.mappedFeature());
            }
            if (p.nextToken() == null) {
                throw new IllegalArgumentException("malformed JSON: expected a value, received an empty document");
            }
            Object value = value(p, 0, limits.maxJsonDepth());
            if (p.nextToken() != null) {
                throw new IllegalArgumentException("malformed JSON at " + where(p) + ": expected the end of the document");
            }
            return value;
        } catch (StreamConstraintsException e) {
            throw new Limits.LimitExceededException("JSON document: " + e.getOriginalMessage());
        } catch (JsonProcessingException e) {
            String message = e.getOriginalMessage();
            java.util.regex.Matcher token = NON_STANDARD.matcher(message == null ? "" : message);
            if (token.find()) { // not Jackson's advice on its own settings
                message = "expected a JSON value, received " + token.group(1) + " (JSON has no NaN or infinite numbers)";
            } else if (message != null) { // "[Source: REDACTED (`StreamReadFeature...` disabled); line: 1, column: 16]"
                message = SOURCE.matcher(message).replaceAll("line $1, column $2");
            }
            throw new IllegalArgumentException("malformed JSON at " + where(e) + ": " + message);
        } catch (IOException e) { // e.g. bytes that announce UTF-16 or UTF-32 and break their promise
            throw new IllegalArgumentException("malformed JSON: " + e.getMessage());
        }
    }

    /**
     * Compact JSON of a value built from maps (keys written with String.valueOf), lists, strings, numbers, booleans and
     * null. Throws IllegalArgumentException for NaN or infinite numbers and for any other type (Java arrays included).
     */
    public static String write(Object value) {
        StringWriter out = new StringWriter();
        try (JsonGenerator g = factory(Limits.current()).createGenerator(out)) {
            write(value, g);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toString();
    }

    private static JsonFactory factory(Limits limits) {
        Factory f = factory;
        if (f == null || f.limits() != limits) {
            // Jackson's own constraints back up the depth check below and bound strings and numbers.
            JsonFactory json = JsonFactory.builder()
                    .streamReadConstraints(StreamReadConstraints.builder()
                            .maxNestingDepth(limits.maxJsonDepth() + 1)
                            .maxDocumentLength(limits.maxJsonBytes())
                            .maxNumberLength(1000)
                            .build())
                    .enable(com.fasterxml.jackson.core.StreamReadFeature.STRICT_DUPLICATE_DETECTION)
                    .build();
            f = new Factory(limits, json);
            factory = f;
        }
        return f.json();
    }

    private static Object value(JsonParser p, int depth, int maxDepth) throws IOException {
        JsonToken t = p.currentToken();
        switch (t) {
            case START_OBJECT -> {
                deeper(p, depth, maxDepth);
                Map<String, Object> m = new LinkedHashMap<>();
                while (p.nextToken() == JsonToken.FIELD_NAME) {
                    String key = p.currentName();
                    p.nextToken();
                    m.put(key, value(p, depth + 1, maxDepth));
                }
                return m;
            }
            case START_ARRAY -> {
                deeper(p, depth, maxDepth);
                List<Object> l = new ArrayList<>();
                while (p.nextToken() != JsonToken.END_ARRAY) {
                    l.add(value(p, depth + 1, maxDepth));
                }
                return l;
            }
            case VALUE_STRING -> {
                return p.getText();
            }
            case VALUE_NUMBER_INT -> {
                return p.getNumberType() == JsonParser.NumberType.BIG_INTEGER ? (Object) p.getDoubleValue() : p.getLongValue();
            }
            case VALUE_NUMBER_FLOAT -> {
                return p.getDoubleValue();
            }
            case VALUE_TRUE -> {
                return Boolean.TRUE;
            }
            case VALUE_FALSE -> {
                return Boolean.FALSE;
            }
            case VALUE_NULL -> {
                return null;
            }
            default -> throw new IllegalArgumentException("malformed JSON at " + where(p) + ": unexpected " + t);
        }
    }

    private static void deeper(JsonParser p, int depth, int maxDepth) {
        if (depth >= maxDepth) {
            throw new Limits.LimitExceededException("JSON document at " + where(p) + ": nesting deeper than "
                    + Limits.describe("maxJsonDepth", maxDepth));
        }
    }

    private static String where(JsonParser p) {
        return "line " + p.currentLocation().getLineNr() + ", column " + p.currentLocation().getColumnNr();
    }

    private static String where(JsonProcessingException e) {
        return e.getLocation() == null ? "an unknown place"
                : "line " + e.getLocation().getLineNr() + ", column " + e.getLocation().getColumnNr();
    }

    private static void write(Object v, JsonGenerator g) throws IOException {
        if (v == null) {
            g.writeNull();
        } else if (v instanceof String s) {
            g.writeString(s);
        } else if (v instanceof Map<?, ?> m) {
            g.writeStartObject();
            for (Map.Entry<?, ?> e : m.entrySet()) {
                g.writeFieldName(String.valueOf(e.getKey()));
                write(e.getValue(), g);
            }
            g.writeEndObject();
        } else if (v instanceof List<?> l) {
            g.writeStartArray();
            for (Object item : l) {
                write(item, g);
            }
            g.writeEndArray();
        } else if (v instanceof Double || v instanceof Float) {
            double d = ((Number) v).doubleValue();
            if (!Double.isFinite(d)) {
                throw new IllegalArgumentException("JSON can't hold " + d);
            }
            g.writeNumber(d);
        } else if (v instanceof Long || v instanceof Integer || v instanceof Short || v instanceof Byte) {
            g.writeNumber(((Number) v).longValue());
        } else if (v instanceof Number n) {
            g.writeNumber(n.toString());
        } else if (v instanceof Boolean b) {
            g.writeBoolean(b);
        } else {
            throw new IllegalArgumentException("JSON can't hold a " + v.getClass().getName());
        }
    }
}
