package dev.osprey.optim;

/**
 * Keras' use_ema: an exponential moving average of the trained weights, kept beside them and updated after every step
 * (average = momentum * average + (1 - momentum) * weights; the first step copies the weights). At the end of fit the
 * weights are replaced by their average (Keras' finalize_variable_values), and with an overwrite frequency also every
 * so many steps during training. The end-of-fit replacement comes before the callbacks' onTrainEnd, so that
 * EarlyStopping with restoreBestWeights still puts back the best epoch's weights. Validation during fit sees the
 * trained weights, as in Keras.
 *
 * @param momentum           the average's momentum, in [0, 1] (Keras' ema_momentum, default 0.99)
 * @param overwriteFrequency every how many steps the weights are replaced by their average during training, or 0 for
 *                           only at the end of fit (Keras' ema_overwrite_frequency, default None); with gradient
 *                           accumulation, the average moves and this counts at weight updates, not batches
 */
public record Ema(double momentum, int overwriteFrequency) {
    /** Checks the settings. */
    public Ema {
        if (!(momentum >= 0 && momentum <= 1)) {
            throw new IllegalArgumentException("useEma: expected a momentum in [0, 1], received " + momentum);
        }
        if (overwriteFrequency < 0) {
            throw new IllegalArgumentException("useEma: expected an overwrite frequency >= 0 (0: at the end of fit "
                    + "only), received " + overwriteFrequency);
        }
    }
}
