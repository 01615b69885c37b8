package dev.osprey.onnx;

import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import onnx.Onnx.AttributeProto;
import onnx.Onnx.NodeProto;

/** One ONNX node with typed attribute access and errors that name it: "node 'conv1' (Conv): ...". */
final class NodeView {
    final NodeProto node;
    final String op;
    final String label;

    NodeView(NodeProto node) {
        this.node = node;
        this.op = node.getOpType();
        String name = !node.getName().isEmpty() ? node.getName()
                : node.getOutputCount() > 0 ? node.getOutput(0) : "?";
        this.label = "node '" + name + "' (" + op + ")";
    }

    OnnxImportException error(String message) {
        return new OnnxImportException(label + ": " + message);
    }

    /** An error naming an attribute whose value Osprey does not map. */
    OnnxImportException unsupported(String attribute, Object value, String expected) {
        return error("attribute " + attribute + "=" + value + " is not supported; expected " + expected);
    }

    /** Refuses any attribute not in the list: an attribute Osprey does not know could change the result. */
    void allowOnly(String... known) throws OnnxImportException {
        Set<String> allowed = new HashSet<>(Arrays.asList(known));
        for (AttributeProto a : node.getAttributeList()) {
            if (!allowed.contains(a.getName())) {
                throw error("attribute '" + a.getName() + "' is not supported (Osprey maps " + op + " with "
                        + (known.length == 0 ? "no attributes" : String.join(", ", known)) + ")");
            }
        }
    }

    int inputCount() {
        int n = node.getInputCount();
        while (n > 0 && node.getInput(n - 1).isEmpty()) {
            n--; // trailing optional inputs left out
        }
        return n;
    }

    /** The name of input i, or "" for an optional input left out. */
    String input(int i) {
        return i < node.getInputCount() ? node.getInput(i) : "";
    }

    String output(int i) {
        return node.getOutput(i);
    }

    private AttributeProto attribute(String name) {
        for (AttributeProto a : node.getAttributeList()) {
            if (a.getName().equals(name)) {
                return a;
            }
        }
        return null;
    }

    boolean has(String name) {
        return attribute(name) != null;
    }

    long integer(String name, long fallback) throws OnnxImportException {
        AttributeProto a = attribute(name);
        if (a == null) {
            return fallback;
        }
        if (a.getType() != AttributeProto.AttributeType.INT) {
            throw error("attribute " + name + ": expected an integer, received " + a.getType());
        }
        return a.getI();
    }

    int smallInteger(String name, long fallback) throws OnnxImportException {
        long v = integer(name, fallback);
        if (v < Integer.MIN_VALUE / 2 || v > Integer.MAX_VALUE / 2) {
            throw error("attribute " + name + ": expected a small integer, received " + v);
        }
        return (int) v;
    }

    float real(String name, float fallback) throws OnnxImportException {
        AttributeProto a = attribute(name);
        if (a == null) {
            return fallback;
        }
        if (a.getType() != AttributeProto.AttributeType.FLOAT) {
            throw error("attribute " + name + ": expected a float, received " + a.getType());
        }
        return a.getF();
    }

    String string(String name, String fallback) throws OnnxImportException {
        AttributeProto a = attribute(name);
        if (a == null) {
            return fallback;
        }
        if (a.getType() != AttributeProto.AttributeType.STRING) {
            throw error("attribute " + name + ": expected a string, received " + a.getType());
        }
        return a.getS().toStringUtf8();
    }

    /** Integers of an INTS attribute (each within int range), or the fallback when absent. */
    int[] integers(String name, int[] fallback) throws OnnxImportException {
        AttributeProto a = attribute(name);
        if (a == null) {
            return fallback;
        }
        if (a.getType() != AttributeProto.AttributeType.INTS) {
            throw error("attribute " + name + ": expected a list of integers, received " + a.getType());
        }
        List<Long> l = a.getIntsList();
        int[] out = new int[l.size()];
        for (int i = 0; i < out.length; i++) {
            long v = l.get(i);
            if (v < -(1 << 24) || v > (1 << 24)) {
                throw error("attribute " + name + ": expected small integers, received " + l);
            }
            out[i] = (int) v;
        }
        return out;
    }

    AttributeProto tensorAttribute(String name) {
        AttributeProto a = attribute(name);
        return a != null && a.getType() == AttributeProto.AttributeType.TENSOR ? a : null;
    }

    List<AttributeProto> attributes() {
        return node.getAttributeList();
    }
}
