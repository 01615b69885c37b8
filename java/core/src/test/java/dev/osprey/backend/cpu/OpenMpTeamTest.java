package dev.osprey.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.osprey.Activation;
import dev.osprey.Precision;
import dev.osprey.backend.Conv2dSpec;
import dev.osprey.backend.ConvInference;
import dev.osprey.backend.Pool2dSpec;
import dev.osprey.backend.Tensor;
import org.bytedeco.dnnl.convolution_forward;
import org.bytedeco.dnnl.global.dnnl;
import org.bytedeco.dnnl.memory;
import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The calling thread's OpenMP team is set while a plan is made and while each of its primitives runs, and restored
 * after: a primitive made for one team size and run on another would split its work (and scratchpad) wrongly.
 */
class OpenMpTeamTest {
    /** A size other than the default, so that each check can tell the two apart. */
    private static final int OTHER = OpenMpTeam.defaultSize() == 1 ? 2 : 1;

    /** The helper is built wherever gcc is (CI installs it); elsewhere these tests are skipped, saying why. */
    @BeforeAll
    static void helperBuilt() {
        assumeTrue(OpenMpTeam.unavailableReason() == null || "true".equals(System.getenv("CI")),
                () -> "the OpenMP team can't be set per primitive here: " + OpenMpTeam.unavailableReason());
        assertNull(OpenMpTeam.unavailableReason(), "the OpenMP team can't be set per primitive");
    }

    @Test
    void theDefaultIsOpenMpsOwnSetting() {
        assertEquals(OpenMpTeam.defaultSize(), OpenMpTeam.maxThreadsNow());
        assertEquals(OpenMpTeam.defaultSize(), OpenMpTeam.current());
    }

    @Test
    void whatIsMadeInsideSizedSeesTheTeamAndTheThreadGetsItsOwnBackAfter() {
        int[] inside = OpenMpTeam.sized(OTHER, () -> new int[] {OpenMpTeam.current(), OpenMpTeam.maxThreadsNow()});
        assertArrayEquals(new int[] {OTHER, OTHER}, inside);
        assertEquals(OpenMpTeam.defaultSize(), OpenMpTeam.current());
        assertEquals(OpenMpTeam.defaultSize(), OpenMpTeam.maxThreadsNow());
    }

    @Test
    void enterSetsOpenMpsTeamForOneRunAndLeaveRestoresIt() {
        int restore = OpenMpTeam.enter(OTHER);
        int during = OpenMpTeam.maxThreadsNow();
        OpenMpTeam.leave(restore);
        assertEquals(OTHER, during);
        assertEquals(OpenMpTeam.defaultSize(), restore);
        assertEquals(OpenMpTeam.defaultSize(), OpenMpTeam.maxThreadsNow());
        assertEquals(0, OpenMpTeam.enter(OpenMpTeam.defaultSize()), "nothing to switch: nothing to restore");
    }

    /** The helper must reach the OpenMP runtime oneDNN itself uses, not another copy: oneDNN sizes for it. */
    @Test
    void oneDnnSizesAPrimitiveMadeInsideSizedForThatTeam() {
        try (DnnlContext context = new DnnlContext(); DnnlContext.Owned owned = new DnnlContext.Owned(context)) {
            long[] scratchpads = new long[2];
            for (int threads = 1; threads <= 2; threads++) {
                scratchpads[threads - 1] = OpenMpTeam.sized(threads, () -> {
                    memory.desc src = owned.md(memory.format_tag.nhwc, 1, 32, 13, 13);
                    memory.desc weights = owned.md(memory.format_tag.any, 64, 32, 3, 3);
                    memory.desc dst = owned.md(memory.format_tag.nhwc, 1, 64, 11, 11);
                    convolution_forward.primitive_desc desc = owned.own(new convolution_forward.primitive_desc(
                            context.engine, dnnl.prop_kind.forward_inference, dnnl.algorithm.convolution_direct, src,
                            weights, dst, new long[] {1, 1}, new long[] {0, 0}, new long[] {0, 0},
                            new long[] {0, 0}, owned.attributes(Activation.RELU), false));
                    return owned.own(desc.scratchpad_desc()).get_size();
                });
            }
            assertNotEquals(scratchpads[0], scratchpads[1], "oneDNN's per-thread scratchpad on 1 and on 2 threads");
        }
    }

    @Test
    void aFailureWhileMakingStillRestoresTheTeam() {
        assertThrows(IllegalStateException.class, () -> OpenMpTeam.sized(OTHER, () -> {
            throw new IllegalStateException("made nothing");
        }));
        assertEquals(OpenMpTeam.defaultSize(), OpenMpTeam.current());
        assertEquals(OpenMpTeam.defaultSize(), OpenMpTeam.maxThreadsNow());
    }

    @Test
    void sizedInsideSizedRestoresTheOuterSize() {
        int[] seen = OpenMpTeam.sized(OTHER, () -> {
            int inner = OpenMpTeam.sized(OpenMpTeam.defaultSize(), OpenMpTeam::maxThreadsNow);
            return new int[] {inner, OpenMpTeam.maxThreadsNow()};
        });
        assertArrayEquals(new int[] {OpenMpTeam.defaultSize(), OTHER}, seen);
    }

    @Test
    void aStepRunsOnTheTeamItWasMadeForWhereverItRunsAndRestoresTheCallersAfter() {
        try (DnnlContext context = new DnnlContext(); DnnlContext.Owned owned = new DnnlContext.Owned(context)) {
            memory.desc flat = owned.md(memory.format_tag.a, 4);
            Step small = OpenMpTeam.sized(OTHER, () -> Step.reorder("copy", null, flat, flat, context.engine));
            Step whole = Step.reorder("copy", null, flat, flat, context.engine);
            try (small; whole; FloatPointer from = new FloatPointer(1f, 2f, 3f, 4f);
                 FloatPointer to = new FloatPointer(4)) {
                assertEquals(OTHER, small.threads());
                assertEquals(OpenMpTeam.defaultSize(), whole.threads());
                long switches = OpenMpTeam.SWITCHES.sum();
                small.bind(dnnl.DNNL_ARG_FROM, from).bind(dnnl.DNNL_ARG_TO, to).run(context.stream);
                assertEquals(switches + 1, OpenMpTeam.SWITCHES.sum(), "the step ran on its own team");
                assertEquals(OpenMpTeam.defaultSize(), OpenMpTeam.maxThreadsNow(), "the caller's team after a run");
                float[] copied = new float[4];
                to.get(copied);
                assertArrayEquals(new float[] {1f, 2f, 3f, 4f}, copied);
                // run from inside another size: the step still gets its own, and the outer size comes back
                int after = OpenMpTeam.sized(OTHER, () -> {
                    whole.bind(dnnl.DNNL_ARG_FROM, from).bind(dnnl.DNNL_ARG_TO, to).run(context.stream);
                    return OpenMpTeam.maxThreadsNow();
                });
                assertEquals(OTHER, after);
                assertEquals(switches + 2, OpenMpTeam.SWITCHES.sum(), "the whole-team step ran on the whole team");
                whole.run(context.stream);
                assertEquals(switches + 2, OpenMpTeam.SWITCHES.sum(), "no switch where the caller's team is the step's");
            }
        }
    }

    /** The backend's plans: at batch 1 the tutorial CNN's first convolution on one thread, at batch 256 the team. */
    @Test
    void theBackendMakesSmallPlansForFewerThreadsAndTheirLazyStepsToo() {
        assumeTrue(OpenMpTeam.defaultSize() > 1, "one OpenMP thread: every plan is made for it");
        CpuBackend backend = (CpuBackend) dev.osprey.backend.Device.cpu().backend();
        Conv2dSpec conv1 = new Conv2dSpec(1, 28, 28, 1, 32, 3, 3, 1, 1, 0, 0, 0, 0, Activation.RELU);
        assertEquals(1, backend.convInference(new ConvInference(conv1, false, Precision.FP32)).threads());
        Conv2dSpec large = new Conv2dSpec(256, 28, 28, 1, 32, 3, 3, 1, 1, 0, 0, 0, 0, Activation.RELU);
        assertEquals(OpenMpTeam.defaultSize(),
                backend.convInference(new ConvInference(large, false, Precision.FP32)).threads());
        Pool2dSpec pool = new Pool2dSpec(1, 26, 26, 32, 2, 2, 2, 2, 0, 0, 0, 0);
        try (dev.osprey.backend.Memory memory = backend.newMemory()) {
            Tensor x = memory.allocate(pool.inputShape());
            Tensor y = memory.allocate(pool.outputShape());
            backend.execute(() -> { // the inference step is made on first use, where the backend computes
                backend.pool2dInference(pool, x, y);
                return null;
            });
            assertArrayEquals(new int[] {1, 1}, backend.pool(pool).threads());
        }
    }

    @Test
    void aTeamOfNoThreadsIsRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> OpenMpTeam.sized(0, () -> null));
        assertEquals("expected a team of at least 1 thread, received 0", e.getMessage());
    }
}
