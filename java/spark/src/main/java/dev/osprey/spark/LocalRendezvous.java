package dev.osprey.spark;

import dev.osprey.backend.Backend;
import dev.osprey.backend.Device;
import dev.osprey.engine.parallel.Communicator;
import dev.osprey.engine.parallel.HostCommunicator;
import java.util.Collections;
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
        final HostCommunicator communicator;
        int present;

        Session(HostCommunicator communicator) {
            this.communicator = communicator;
        }
    }

    @Override
    public String newToken(int ranks) {
        return "local:" + UUID.randomUUID();
    }

    @Override
    public Communicator join(String token, int rank, int ranks) {
        if (!token.startsWith("local:")) {
            throw new IllegalArgumentException("LocalRendezvous: expected a token it made ('local:...'), received '"
                    + token + "'");
        }
        synchronized (SESSIONS) {
            Session s = SESSIONS.get(token);
            if (s == null) {
                Backend backend = Device.auto().backend();
                s = new Session(new HostCommunicator(Collections.nCopies(ranks, backend)));
                SESSIONS.put(token, s);
            }
            if (s.communicator.size() != ranks) {
                throw new IllegalStateException("LocalRendezvous: session " + token + " has " + s.communicator.size()
                        + " ranks, rank " + rank + " expected " + ranks);
            }
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
