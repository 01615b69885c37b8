package dev.osprey.data.images;

import java.io.IOException;

/** An image file that can't be used: empty, truncated, not an image, or with an unexpected channel count. */
public class ImageDecodeException extends IOException {
    /** message: the file and what is wrong with it. */
    public ImageDecodeException(String message) {
        super(message);
    }
}
