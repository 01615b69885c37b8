package dev.osprey.backend;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Function;

/**
 * A backend's plans by spec, least recently used first out: a plan is made once per key and reused, and once more
 * than {@code capacity} keys are held the stalest plan is closed, so shapes a process no longer uses (old batch sizes)
 * don't hold native memory forever. Callers serialize access (the backend's lock).
 */
public final class PlanCache<K, P extends AutoCloseable> implements AutoCloseable {
    private final String library;
    private final int capacity;
    private final Map<K, P> plans;
    private long created;

    /**
     * library names the native library in failure messages ("oneDNN"); capacity is how many plans are kept before
     * the least recently used is closed.
     */
    public PlanCache(String library, int capacity) {
        this.library = library;
        this.capacity = capacity;
        this.plans = new LinkedHashMap<>(16, 0.75f, true);
    }

    /** The plan for this key, made by {@code make} if absent; a plan that fails to make is reported with its key. */
    public P get(K key, Function<K, P> make) {
        P plan = plans.get(key);
        if (plan == null) {
            try {
                plan = make.apply(key);
            } catch (BackendException e) {
                throw e;
            } catch (RuntimeException e) {
                throw new BackendException(library + " could not plan " + key + ": " + e.getMessage(), e);
            }
            plans.put(key, plan);
            created++;
            if (plans.size() > capacity) {
                var eldest = plans.entrySet().iterator().next();
                plans.remove(eldest.getKey());
                closeQuietly(eldest.getValue());
            }
        }
        return plan;
    }

    /** Plans made so far (evicted ones included). */
    public long created() {
        return created;
    }

    /** Plans held now: at most capacity. */
    public int size() {
        return plans.size();
    }

    @Override
    public void close() {
        plans.values().forEach(PlanCache::closeQuietly);
        plans.clear();
    }

    private static void closeQuietly(AutoCloseable plan) {
        try {
            plan.close();
        } catch (Exception e) {
            throw new BackendException("could not free a plan: " + e.getMessage(), e);
        }
    }
}
