package dev.osprey.data;

import dev.osprey.NDArray;

/**
 * Training and test (or validation) splits, images (N, H, W, C) in [0, 1] and integer labels (N).
 *
 * @param source where the data came from, for messages: the directory of the files, or a description
 */
public record LabeledData(NDArray trainX, NDArray trainY, NDArray testX, NDArray testY, String source) {
    /** Throws IllegalArgumentException when a split holds a different number of images and labels. */
    public LabeledData {
        check("training", trainX, trainY);
        check("test", testX, testY);
    }

    private static void check(String split, NDArray x, NDArray y) {
        if (x.rows() != y.rows()) {
            throw new IllegalArgumentException("expected as many " + split + " labels as images, received "
                    + x.rows() + " images and " + y.rows() + " labels");
        }
    }
}
