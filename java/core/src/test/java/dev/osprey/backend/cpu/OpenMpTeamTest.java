package dev.osprey.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.bytedeco.dnnl.memory;
import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.Test;

/**
 * The calling thread's OpenMP team is set while a plan is made and while each of its primitives runs, and restored
 * after: a primitive made for one team size and run on another would split its work (and scratchpad) wrongly.
 */
class OpenMpTeamTest {
    /** A size other than the default, so that each check can tell the two apart. */
    private static final int OTHER = OpenMpTeam.defaultSize() == 1 ? 2 : 1;

    @Test
    void theHelperIsBuiltIntoTheJarAndFindsOneDnnsOpenMp() {
        assertNull(OpenMpTeam.unavailableReason(), "the OpenMP team can't be set per primitive");
        assertEquals(OpenMpTeam.defaultSize(), OpenMpTeam.maxThreadsNow());
        assertEquals(CpuBackend.threads(), OpenMpTeam.defaultSize(), "OMP_NUM_THREADS, else every core");
    }

    @Test
    void whatIsMadeInsideSizedSeesTheTeamAndTheThreadGetsItsOwnBackAfter() {
        int[] inside = OpenMpTeam.sized(OTHER, () -> new int[] {OpenMpTeam.current(), OpenMpTeam.maxThreadsNow()});
        assertArrayEquals(new int[] {OTHER, OTHER}, inside);
        assertEquals(OpenMpTeam.defaultSize(), OpenMpTeam.current());
        assertEquals(OpenMpTeam.defaultSize(), OpenMpTeam.maxThreadsNow());
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
                small.bind(org.bytedeco.dnnl.global.dnnl.DNNL_ARG_FROM, from)
                        .bind(org.bytedeco.dnnl.global.dnnl.DNNL_ARG_TO, to).run(context.stream);
                assertEquals(switches + 1, OpenMpTeam.SWITCHES.sum(), "the step ran on its own team");
                assertEquals(OpenMpTeam.defaultSize(), OpenMpTeam.maxThreadsNow(), "the caller's team after a run");
                float[] copied = new float[4];
                to.get(copied);
                assertArrayEquals(new float[] {1f, 2f, 3f, 4f}, copied);
                // run from inside another size: the step still gets its own, and the outer size comes back
                int after = OpenMpTeam.sized(OTHER, () -> {
                    whole.bind(org.bytedeco.dnnl.global.dnnl.DNNL_ARG_FROM, from)
                            .bind(org.bytedeco.dnnl.global.dnnl.DNNL_ARG_TO, to).run(context.stream);
                    return OpenMpTeam.maxThreadsNow();
                });
                assertEquals(OTHER, after);
                assertEquals(switches + 2, OpenMpTeam.SWITCHES.sum(), "the whole-team step ran on the whole team");
                whole.run(context.stream);
                assertEquals(switches + 2, OpenMpTeam.SWITCHES.sum(), "no switch where the caller's team is the step's");
            }
        }
    }

    @Test
    void aTeamOfNoThreadsIsRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> OpenMpTeam.sized(0, () -> null));
        assertEquals("expected a team of at least 1 thread, received 0", e.getMessage());
    }
}
