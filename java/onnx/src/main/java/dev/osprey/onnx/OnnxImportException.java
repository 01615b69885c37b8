package dev.osprey.onnx;

import java.io.IOException;

/**
 * An ONNX file Osprey cannot import: not ONNX, damaged, or using an op or attribute Osprey does not map. The message
 * names the node, its op and what was expected and received; no partial or approximate model is ever returned.
 */
public final class OnnxImportException extends IOException {
    private static final long serialVersionUID = 1L;

    /** A failure with its explanation. */
    public OnnxImportException(String message) {
        super(message);
    }

    /** A failure caused by another one (a protobuf or file error). */
    public OnnxImportException(String message, Throwable cause) {
        super(message, cause);
    }
}
