package dev.osprey.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.backend.Pool2dSpec;
import java.util.Random;
import org.bytedeco.javacpp.BytePointer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Osprey's 8-bit max pooling (native/cpu/max_pool8.c) against oneDNN's on the same bytes: the same bytes out, unsigned
 * and signed (so a signed byte compared unsigned fails), for 2x2 windows of stride 2 on odd maps, 3x3 windows of
 * stride 2 with padding, channels in 32s, past them and fewer than 32, on one thread and on three.
 */
class Int8MaxPoolTest {
    private static DnnlContext context;

    @BeforeAll
    static void open() {
        NativeKernels.require(Int8MaxPoolPlan.unavailableReason(), "the 8-bit max pooling");
        context = new DnnlContext();
    }

    @AfterAll
    static void close() {
        if (context != null) {
            context.close();
        }
    }

    private static byte[] run(Int8MaxPoolPlan plan, Pool2dSpec s, byte[] x) {
        int outputs = s.batch() * s.outH() * s.outW() * s.channels();
        try (CpuTensor tx = CpuTensor.allocate(new int[] {x.length}); CpuTensor ty = CpuTensor.allocate(
                new int[] {outputs})) {
            new BytePointer(tx.pointer()).put(x, 0, x.length);
            plan.forward(tx, ty);
            byte[] y = new byte[outputs];
            new BytePointer(ty.pointer()).get(y, 0, outputs);
            return y;
        }
    }

    @Test
    void itGivesOneDnnsBytes() {
        Pool2dSpec[] specs = {
            new Pool2dSpec(Pool2dSpec.Mode.MAX, 3, 11, 11, 64, 2, 2, 2, 2, 0, 0, 0, 0), // the tutorial's second pooling
            new Pool2dSpec(Pool2dSpec.Mode.MAX, 2, 9, 7, 40, 3, 3, 2, 2, 1, 1, 1, 1),   // 'same': windows in padding
            new Pool2dSpec(Pool2dSpec.Mode.MAX, 1, 6, 5, 16, 2, 2, 2, 2, 0, 0, 0, 0),   // fewer than 32 channels
            new Pool2dSpec(Pool2dSpec.Mode.MAX, 2, 8, 8, 96, 3, 3, 1, 1, 0, 1, 2, 1),   // stride 1, uneven padding
        };
        for (Pool2dSpec s : specs) {
            for (boolean unsigned : new boolean[] {true, false}) {
                Random r = new Random(s.hashCode() + (unsigned ? 1 : 0));
                byte[] x = new byte[s.batch() * s.inH() * s.inW() * s.channels()];
                r.nextBytes(x);
                Int8MaxPoolPlan.Key key = new Int8MaxPoolPlan.Key(s, unsigned);
                Int8MaxPoolPlan onednn = OpenMpTeam.sized(2, () -> new Int8MaxPoolPlan(context, key, false));
                try (onednn) {
                    assertEquals("onednn", onednn.implementation());
                    byte[] expected = run(onednn, s, x);
                    for (int team : new int[] {1, 3}) {
                        try (Int8MaxPoolPlan osprey = OpenMpTeam.sized(team,
                                () -> new Int8MaxPoolPlan(context, key, true))) {
                            assertEquals("osprey_max_pool_" + (unsigned ? "u8" : "s8") + ":avx2",
                                    osprey.implementation());
                            assertArrayEquals(expected, run(osprey, s, x), s + (unsigned ? " unsigned" : " signed")
                                    + " on " + team + " threads");
                        }
                    }
                }
            }
        }
    }

    @Test
    void theSwitchTakesOspreyOrOneDnn() {
        String old = System.getProperty(Int8MaxPoolPlan.PROPERTY);
        try {
            System.clearProperty(Int8MaxPoolPlan.PROPERTY);
            assertTrue(Int8MaxPoolPlan.ospreysKernel());
            System.setProperty(Int8MaxPoolPlan.PROPERTY, "onednn");
            assertEquals(false, Int8MaxPoolPlan.ospreysKernel());
            System.setProperty(Int8MaxPoolPlan.PROPERTY, "fast");
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, Int8MaxPoolPlan::ospreysKernel);
            assertTrue(e.getMessage().contains("expected osprey or onednn, received 'fast'"), e.getMessage());
        } finally {
            if (old == null) {
                System.clearProperty(Int8MaxPoolPlan.PROPERTY);
            } else {
                System.setProperty(Int8MaxPoolPlan.PROPERTY, old);
            }
        }
    }
}
