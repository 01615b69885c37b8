package dev.osprey.optim;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * Keras' decoupled weight decay, shared by the optimizers: before each step a decayed weight w becomes
 * w - learningRate * rate * w. Weights whose path ("dense/bias", "batch_normalization/gamma") matches one of the
 * exclusion patterns (regular expressions found anywhere in the path, as Keras' exclude_from_weight_decay) are left
 * alone. Immutable.
 */
record WeightDecay(double rate, List<String> excluded) {
    static final WeightDecay NONE = new WeightDecay(0, List.of());

    WeightDecay {
        if (!(rate >= 0) || Double.isInfinite(rate)) {
            throw new IllegalArgumentException("expected weight decay >= 0, received " + rate);
        }
        excluded = List.copyOf(excluded);
        for (String p : excluded) {
            try {
                Pattern.compile(p);
            } catch (PatternSyntaxException e) {
                throw new IllegalArgumentException("expected a regular expression to exclude from weight decay, "
                        + "received '" + p + "': " + e.getDescription());
            }
        }
    }

    WeightDecay withRate(double r) {
        return new WeightDecay(r, excluded);
    }

    WeightDecay excluding(String... patterns) {
        List<String> all = new ArrayList<>(excluded);
        all.addAll(List.of(patterns));
        return new WeightDecay(rate, all);
    }

    boolean decays(String path) {
        for (String p : excluded) {
            if (Pattern.compile(p).matcher(path).find()) {
                return false;
            }
        }
        return true;
    }

    /** Adds Keras' weight_decay (and Osprey's exclude_from_weight_decay) to a config where there is any decay. */
    void addTo(Map<String, Object> config) {
        if (rate > 0) {
            config.put("weight_decay", rate);
            if (!excluded.isEmpty()) {
                config.put("exclude_from_weight_decay", excluded);
            }
        }
    }
}
