package dev.osprey.spark;

import dev.osprey.Model;
import dev.osprey.backend.Device;
import dev.osprey.io.ModelFile;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Supplier;

/**
 * The models an executor JVM holds, one per model file (by digest) and device, shared by its concurrent tasks on that
 * device and kept for the next ones: a task leases the model, and when the last running task's lease ends the model frees its plans'
 * native memory (activation buffers), keeping only its weights. About {@link #MAX_MODELS} models are kept per device
 * in use (so that every GPU of an executor keeps its own); the least recently used one beyond that is closed once no
 * task uses it.
 */
public final class ExecutorModels {
    /** Models kept per device an executor uses. */
    public static final int MAX_MODELS = 4;

    private static final Map<String, Entry> MODELS = new LinkedHashMap<>(8, 0.75f, true);
    private static long loads;

    private static final class Entry {
        final Model model;
        int users;

        Entry(Model model) {
            this.model = model;
        }
    }

    /** A task's use of a model; closing it ends the use. */
    public static final class Lease implements AutoCloseable {
        private final String id;
        private final Entry entry;
        private boolean closed;

        private Lease(String id, Entry entry) {
            this.id = id;
            this.entry = entry;
        }

        public Model model() {
            return entry.model;
        }

        @Override
        public void close() {
            synchronized (ExecutorModels.class) {
                if (closed) {
                    return;
                }
                closed = true;
                if (--entry.users == 0) {
                    entry.model.releasePlans();
                }
                evictIdle();
            }
        }

        @Override
        public String toString() {
            return "lease of model " + id;
        }
    }

    private ExecutorModels() {
    }

    /** The model with this id on device, loaded from bytes if this executor has not got it there yet. */
    public static synchronized Lease acquire(String id, Device device, Supplier<byte[]> bytes) {
        String key = id + "@" + device;
        Entry e = MODELS.get(key);
        if (e == null) {
            try {
                e = new Entry(ModelFile.fromBytes(bytes.get(), device));
            } catch (IOException ex) {
                throw new UncheckedIOException("osprey-spark: the broadcast model could not be read: " + ex.getMessage(),
                        ex);
            }
            MODELS.put(key, e);
            loads++;
        }
        e.users++;
        return new Lease(key, e);
    }

    private static void evictIdle() {
        long devices = MODELS.keySet().stream().map(k -> k.substring(k.lastIndexOf('@'))).distinct().count();
        long cap = MAX_MODELS * Math.max(1, devices);
        var it = MODELS.entrySet().iterator();
        while (MODELS.size() > cap && it.hasNext()) {
            Entry e = it.next().getValue();
            if (e.users == 0) {
                e.model.close();
                it.remove();
            }
        }
    }

    /** Models loaded by this JVM so far (each reused by every later task that scores with it). */
    public static synchronized long loads() {
        return loads;
    }

    /** Models held now. */
    public static synchronized int held() {
        return MODELS.size();
    }

    /** Native bytes held by the held models' plans now: 0 once no task is running. */
    public static synchronized long planBytes() {
        long bytes = 0;
        for (Entry e : MODELS.values()) {
            bytes += e.model.planBytes();
        }
        return bytes;
    }

    /** Closes every model no task is using (an executor shutting down, or a test). Returns how many stay. */
    public static synchronized int closeIdle() {
        var it = MODELS.entrySet().iterator();
        while (it.hasNext()) {
            Entry e = it.next().getValue();
            if (e.users == 0) {
                e.model.close();
                it.remove();
            }
        }
        return MODELS.size();
    }
}
