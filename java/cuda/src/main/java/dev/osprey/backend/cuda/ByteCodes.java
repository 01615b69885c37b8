package dev.osprey.backend.cuda;

/**
 * A float array with at most 256 distinct values (bit patterns), stored as one byte per value plus a decoding
 * table: a quarter of the memory, and decoding is exact by construction. Images read from 8-bit files and scaled
 * (or standardised) always qualify.
 */
record ByteCodes(byte[] codes, float[] table) {
    private static final int SLOTS = 1024; // open addressing, at most 256 of them filled

    /** The codes of x, or null when x has more than 256 distinct values. */
    static ByteCodes encode(float[] x) {
        int[] keys = new int[SLOTS];
        short[] codeOf = new short[SLOTS];
        java.util.Arrays.fill(codeOf, (short) -1);
        float[] table = new float[256];
        int distinct = 0;
        byte[] codes = new byte[x.length];
        int lastBits = 0;
        int lastCode = -1;
        for (int i = 0; i < x.length; i++) {
            int bits = Float.floatToRawIntBits(x[i]);
            if (bits == lastBits && lastCode >= 0) { // runs of equal values (background pixels) are common
                codes[i] = (byte) lastCode;
                continue;
            }
            int slot = (bits * 0x9E3779B1 >>> 22) & (SLOTS - 1);
            while (codeOf[slot] >= 0 && keys[slot] != bits) {
                slot = (slot + 1) & (SLOTS - 1);
            }
            if (codeOf[slot] < 0) {
                if (distinct == 256) {
                    return null;
                }
                keys[slot] = bits;
                codeOf[slot] = (short) distinct;
                table[distinct++] = x[i];
            }
            lastBits = bits;
            lastCode = codeOf[slot];
            codes[i] = (byte) lastCode;
        }
        return new ByteCodes(codes, table);
    }

    float decode(int i) {
        return table[codes[i] & 0xFF];
    }
}
