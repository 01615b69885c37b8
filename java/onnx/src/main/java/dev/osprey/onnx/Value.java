package dev.osprey.onnx;

import dev.osprey.Shape;
import dev.osprey.SymbolicTensor;

/**
 * A tensor the model computes, as the importer tracks it: Osprey's symbolic tensor and how its layout relates to the
 * ONNX tensor it stands for. ONNX feature maps are NCHW; Osprey keeps them NHWC, so axes and flattening orders differ
 * and every op that depends on them asks the layout.
 */
record Value(SymbolicTensor tensor, Layout layout, int[] chw) {
    /** How an Osprey tensor holds the ONNX one. */
    enum Layout {
        /** Same axes, same order (vectors, and tensors that are not feature maps). */
        PLAIN,
        /** An ONNX (N, C, H, W) feature map held as Osprey's (N, H, W, C). */
        CHANNELS_LAST,
        /**
         * An ONNX Flatten of a (C, H, W) feature map, held as Osprey's flatten of (H, W, C): the same values in
         * another order, put right by the weights of the Dense layer that takes it.
         */
        FLAT_CHW
    }

    static Value plain(SymbolicTensor t) {
        return new Value(t, Layout.PLAIN, null);
    }

    static Value channelsLast(SymbolicTensor t) {
        return new Value(t, Layout.CHANNELS_LAST, null);
    }

    Shape shape() {
        return tensor.shape();
    }

    /** The ONNX dims of one sample (without the batch). */
    int[] onnxDims() {
        int[] d = tensor.shape().dims();
        if (layout == Layout.CHANNELS_LAST) {
            return new int[] {d[2], d[0], d[1]};
        }
        return d;
    }

    /** The ONNX rank with the batch. */
    int onnxRank() {
        return tensor.shape().rank() + 1;
    }

    /** Whether an ONNX flatten order differs from Osprey's for this value (a feature map larger than 1x1). */
    boolean flatOrderDiffers() {
        return layout == Layout.FLAT_CHW && chw[1] * chw[2] > 1;
    }
}
