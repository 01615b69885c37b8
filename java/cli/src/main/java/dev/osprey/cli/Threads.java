package dev.osprey.cli;

/**
 * oneDNN's OpenMP runtime reads OMP_NUM_THREADS once, when it loads, so the thread count must be in the
 * environment before the JVM starts; the osprey launcher turns --threads into that variable.
 */
final class Threads {
    private Threads() {
    }

    static void check(Integer requested) {
        if (requested == null) {
            return;
        }
        if (requested <= 0) {
            throw new IllegalArgumentException("expected --threads > 0, received " + requested);
        }
        String env = System.getenv("OMP_NUM_THREADS");
        if (!String.valueOf(requested).equals(env)) {
            throw new IllegalArgumentException("--threads " + requested + " needs OMP_NUM_THREADS=" + requested
                    + " in the environment before Java starts (the ./osprey launcher sets it); found "
                    + (env == null ? "none" : env));
        }
    }
}
