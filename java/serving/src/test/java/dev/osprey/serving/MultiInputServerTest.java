package dev.osprey.serving;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Model;
import dev.osprey.backend.Device;
import dev.osprey.io.Json;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * POST /v1/predict for a model of two inputs and two outputs (see {@link MultiInputPredictorTest}): JSON samples of
 * the inputs by name, answered with each output's values by name; what the model can't take is a 4xx that says why.
 */
class MultiInputServerTest {
    @TempDir
    static Path dir;
    static Path modelFile;

    @BeforeAll
    static void saveAModel() throws Exception {
        modelFile = dir.resolve("two.osprey");
        try (Model model = MultiInputPredictorTest.twoInTwoOut()) {
            model.device(Device.cpu()).seed(11);
            model.save(modelFile);
        }
    }

    static List<Object> numbers(float[] values) {
        List<Object> out = new ArrayList<>();
        for (float v : values) {
            out.add((double) v);
        }
        return out;
    }

    static float[] floats(Object list) {
        List<?> values = (List<?>) list;
        float[] out = new float[values.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = ((Number) values.get(i)).floatValue();
        }
        return out;
    }

    /** Sample i as {"image": [...], "meta": [...]}. */
    static Map<String, Object> instance(int i) {
        Map<String, Object> one = new LinkedHashMap<>();
        one.put("image", numbers(MultiInputPredictorTest.images[i]));
        one.put("meta", numbers(MultiInputPredictorTest.metas[i]));
        return one;
    }

    @Test
    @SuppressWarnings("unchecked")
    void samplesOfNamedInputsAreAnsweredWithEveryOutputByName() throws Exception {
        try (Predictor p = Predictor.builder(modelFile).build();
             InferenceServer s = InferenceServerTest.start(p, 1 << 20)) {
            String body = Json.write(Map.of("instances", List.of(instance(0), instance(1), instance(2))));
            HttpResponse<String> r = InferenceServerTest.post(s, "application/json", body.getBytes());
            assertEquals(200, r.statusCode(), r.body());
            List<Object> predictions = (List<Object>) ((Map<String, Object>) Json.parse(r.body())).get("predictions");
            assertEquals(3, predictions.size());
            for (int i = 0; i < 3; i++) {
                Map<String, Object> answer = (Map<String, Object>) predictions.get(i);
                assertEquals(List.of("kind", "box"), List.copyOf(answer.keySet()), r.body());
                Map<String, float[]> expected = p.predict(MultiInputPredictorTest.sample(i));
                assertArrayEquals(expected.get("kind"), floats(answer.get("kind")), 0f, "kind of sample " + i);
                assertArrayEquals(expected.get("box"), floats(answer.get("box")), 0f, "box of sample " + i);
            }
            HttpResponse<String> single = InferenceServerTest.post(s, "application/json",
                    Json.write(Map.of("instance", instance(4))).getBytes());
            assertEquals(200, single.statusCode(), single.body());

            HttpResponse<String> health = InferenceServerTest.client.send(HttpRequest.newBuilder(URI.create(
                    "http://127.0.0.1:" + s.port() + "/health")).build(), HttpResponse.BodyHandlers.ofString());
            assertTrue(health.body().contains("\"inputs\":[{\"name\":\"image\",\"shape\":[6,6,1]},{\"name\":\"meta\","
                    + "\"shape\":[3]}]") && health.body().contains("\"outputs\":[{\"name\":\"kind\",\"shape\":[4]},"
                    + "{\"name\":\"box\",\"shape\":[2]}]"), health.body());
        }
    }

    @Test
    void whatTheModelCannotTakeGetsAMessage() throws Exception {
        try (Predictor p = Predictor.builder(modelFile).build();
             InferenceServer s = InferenceServerTest.start(p, 1 << 20)) {
            HttpResponse<String> list = InferenceServerTest.post(s, "application/json",
                    "{\"instances\": [[1, 2, 3]]}".getBytes());
            assertEquals(400, list.statusCode());
            assertTrue(list.body().contains("sample 0: this model takes 2 inputs [image, meta]: expected an object of "
                    + "them by name, received a list"), list.body());

            Map<String, Object> missing = instance(0);
            missing.remove("meta");
            HttpResponse<String> none = InferenceServerTest.post(s, "application/json",
                    Json.write(Map.of("instances", List.of(instance(1), missing))).getBytes());
            assertEquals(400, none.statusCode());
            assertTrue(none.body().contains("sample 1: expected the inputs [image, meta], received none for 'meta'"),
                    none.body());

            Map<String, Object> extra = instance(0);
            extra.put("size", List.of(1.0));
            HttpResponse<String> unknown = InferenceServerTest.post(s, "application/json",
                    Json.write(Map.of("instances", List.of(extra))).getBytes());
            assertEquals(400, unknown.statusCode());
            assertTrue(unknown.body().contains("an input named 'size' this model lacks"), unknown.body());

            Map<String, Object> wrong = instance(0);
            wrong.put("meta", List.of(1.0, 2.0));
            HttpResponse<String> size = InferenceServerTest.post(s, "application/json",
                    Json.write(Map.of("instances", List.of(wrong))).getBytes());
            assertEquals(400, size.statusCode());
            assertTrue(size.body().contains("sample 0: expected 3 numbers for input 'meta' (shape (3,)), received 2"),
                    size.body());

            String image = Json.write(numbers(MultiInputPredictorTest.images[0]));
            HttpResponse<String> explicitNull = InferenceServerTest.post(s, "application/json",
                    ("{\"instance\": {\"image\": " + image + ", \"meta\": null}}").getBytes());
            assertEquals(400, explicitNull.statusCode());
            assertTrue(explicitNull.body().contains("received null for 'meta'"), explicitNull.body());
            HttpResponse<String> nested = InferenceServerTest.post(s, "application/json", ("{\"instance\": {\"image\": "
                    + image + ", \"meta\": [1, {\"x\": \"" + "y".repeat(5000) + "\"}, 3]}}").getBytes());
            assertEquals(400, nested.statusCode());
            assertTrue(nested.body().contains("sample 0 (input 'meta'): expected numbers, received '{x=yyy"),
                    nested.body());
            assertTrue(nested.body().length() < 400, "what the client sent is echoed shortened: " + nested.body());

            for (String type : List.of("application/octet-stream", "image/png")) {
                HttpResponse<String> r = InferenceServerTest.post(s, type, new byte[4 * 39]);
                assertEquals(415, r.statusCode(), type);
                assertTrue(r.body().contains("this model takes 2 inputs [image, meta]: expected Content-Type "
                        + "application/json"), r.body());
            }
            // none of it disturbed service
            HttpResponse<String> ok = InferenceServerTest.post(s, "application/json",
                    Json.write(Map.of("instances", List.of(instance(5)))).getBytes());
            assertEquals(200, ok.statusCode(), ok.body());
        }
    }
}
