package dev.osprey.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** NaN and the infinities: refused by default, saying which token, and read where the caller allows them. */
class JsonNonFiniteTest {
    private static final byte[] DOC = "{\"x\": [1.5, NaN, -Infinity, Infinity]}".getBytes(StandardCharsets.UTF_8);

    @Test
    void refusedByDefaultWithTheTokenNamed() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Json.parse(DOC));
        assertEquals("malformed JSON at line 1, column 16: expected a JSON value, received NaN (JSON has no NaN or "
                + "infinite numbers)", e.getMessage());
    }

    @Test
    void readAsDoublesWhereAllowed() {
        Object doc = Json.parse(DOC, 0, DOC.length, true);
        List<?> x = (List<?>) ((Map<?, ?>) doc).get("x");
        assertEquals(List.of(1.5, Double.NaN, Double.NEGATIVE_INFINITY, Double.POSITIVE_INFINITY), x);
    }
}
