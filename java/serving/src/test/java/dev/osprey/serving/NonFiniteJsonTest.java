package dev.osprey.serving;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Shape;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * NaN in a JSON request: refused with the token named and the server option that accepts it; accepted by a server
 * started with --allow-non-finite (before, JSON could never carry one, and the refusal quoted Jackson's settings).
 */
class NonFiniteJsonTest {
    private static final byte[] BODY = "{\"instances\": [[1, NaN, -Infinity, 2]]}".getBytes(StandardCharsets.UTF_8);

    @Test
    void refusedWithTheTokenAndTheOptionNamed() {
        RequestDecoder strict = new RequestDecoder(Shape.of(2, 2, 1), null, false);
        RequestDecoder.BadRequest e = assertThrows(RequestDecoder.BadRequest.class,
                () -> strict.decode("application/json", BODY));
        assertTrue(e.getMessage().contains("received NaN (JSON has no NaN or infinite numbers)"), e.getMessage());
        assertTrue(e.getMessage().endsWith("(a server started with --allow-non-finite accepts them)"), e.getMessage());
        assertTrue(!e.getMessage().contains("JsonReadFeature"), e.getMessage());
    }

    @Test
    void acceptedByAServerThatAllowsThem() throws Exception {
        RequestDecoder lenient = new RequestDecoder(Shape.of(2, 2, 1), null, true);
        List<float[][]> samples = lenient.decode("application/json", BODY);
        assertEquals(1, samples.size());
        float[] values = samples.get(0)[0];
        assertEquals(1f, values[0]);
        assertTrue(Float.isNaN(values[1]));
        assertEquals(Float.NEGATIVE_INFINITY, values[2]);
        assertEquals(2f, values[3]);
    }
}
