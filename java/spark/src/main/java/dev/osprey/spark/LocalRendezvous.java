package dev.osprey.spark;

import dev.osprey.backend.Backend;
import dev.osprey.backend.Device;
import dev.osprey.engine.parallel.Communicator;
import dev.osprey.engine.parallel.HostCommunicator;
import java.util.HashMap;
import java.util.Map;
import java.util.UUID;

/**
 * Ranks that all run in this JVM (Spark's local mode) share one {@link HostCommunicator} found by the token: the
 * bootstrap of a multi-node training, testable without a cluster. Across executors it can't work (nothing is shared
 * between JVMs), so {@link SparkTrainer} refuses it unless Spark runs in local mode.
 */
public final class LocalRendezvous implements CommunicatorFactory {
    private static final long serialVersionUID = 1L;
    private static final Map<String, Session> SESSIONS = new HashMap<>();

    private static final class Session {
        final Backend[] backends; // per rank, its device's backend, named when it joins
        final HostCommunicator communicator;
        int present;

        Session(int ranks) {
            this.backends = new Backend[ranks];
            this.communicator = new HostCommunicator(ranks, rank -> backends[rank], HostCommunicator.DEFAULT_TIMEOUT);
        }
    }

    @Override
    public String newToken(int ranks) {
        return "local:" + UUID.randomUUID();
    }

    @Override
    public Communicator join(String token, int rank, int ranks, Device device) {
        if (!token.startsWith("local:")) {
            throw new IllegalArgumentException("LocalRendezvous: expected a token it made ('local:...'), received '"
                    + token + "'");
        }
        synchronized (SESSIONS) {
            Session s = SESSIONS.get(token);
            if (s == null) {
                s = new Session(ranks);
                SESSIONS.put(token, s);
            }
            if (s.communicator.size() != ranks) {
                throw new IllegalStateException("LocalRendezvous: session " + token + " has " + s.communicator.size()
                        + " ranks, rank " + rank + " expected " + ranks);
            }
            if (rank < 0 || rank >= ranks) {
                throw new IllegalArgumentException("LocalRendezvous: expected a rank in [0, " + ranks + "), received "
                        + rank);
            }
            s.backends[rank] = device.backend();
            s.present++;
            return s.communicator;
        }
    }

    @Override
    public void leave(String token, int rank) {
        synchronized (SESSIONS) {
            Session s = SESSIONS.get(token);
            if (s != null && --s.present == 0) {
                s.communicator.close();
                SESSIONS.remove(token);
            }
        }
    }

    /** Sessions open now in this JVM (0 once every training has ended). */
    public static int openSessions() {
        synchronized (SESSIONS) {
            return SESSIONS.size();
        }
    }
}
