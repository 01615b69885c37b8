package dev.osprey.optim;

/**
 * Keras' gradient clipping, one kind per optimizer as Keras allows: {@code clipnorm} scales each weight's gradient to
 * an L2 norm of at most the value, {@code global_clipnorm} scales all of them together to a joint norm of at most
 * it, {@code clipvalue} clips each gradient value into [-value, value]. Runs on the device before the update; the
 * norms never travel to the host.
 */
public record GradientClipping(Kind kind, double value) {
    /** Which clipping. */
    public enum Kind {
        /** Each weight's gradient to an L2 norm of at most the value (Keras' clipnorm). */
        NORM("clipnorm"),
        /** All gradients together to a joint L2 norm of at most the value (Keras' global_clipnorm). */
        GLOBAL_NORM("global_clipnorm"),
        /** Each gradient value into [-value, value] (Keras' clipvalue). */
        VALUE("clipvalue");

        private final String kerasName;

        Kind(String kerasName) {
            this.kerasName = kerasName;
        }

        /** The optimizer argument's name in Keras. */
        public String kerasName() {
            return kerasName;
        }
    }

    /** Checks a kind and a value > 0. */
    public GradientClipping {
        if (kind == null || !(value > 0) || Double.isInfinite(value)) {
            throw new IllegalArgumentException("gradient clipping: expected a kind and a finite value > 0, received "
                    + kind + " " + value);
        }
    }
}
