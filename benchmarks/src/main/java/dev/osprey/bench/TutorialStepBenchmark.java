package dev.osprey.bench;

import dev.osprey.FitOptions;
import dev.osprey.Models;
import dev.osprey.NDArray;
import dev.osprey.Sequential;
import dev.osprey.backend.Device;
import dev.osprey.data.Datasets;
import dev.osprey.data.LabeledData;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The tutorial CNN, one training step (forward, loss, backward, Adam) and one inference batch, on real images.
 * Run: java -cp 'benchmarks/target/osprey-benchmarks-0.1.0-SNAPSHOT.jar:benchmarks/target/lib/*'
 * org.openjdk.jmh.Main TutorialStep
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 2)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class TutorialStepBenchmark {
    @Param({"1", "32", "256"})
    int batch;

    @Param({"cpu"})
    String device;

    private Sequential model;
    private NDArray x;
    private NDArray y;
    private FitOptions oneStep;

    @Setup(Level.Trial)
    public void setUp() {
        LabeledData data = Datasets.fashionMnistSample();
        x = data.trainX().slice(0, batch);
        y = data.trainY().slice(0, batch);
        model = Models.compiledTutorialCnn(Device.parse(device));
        oneStep = FitOptions.defaults().epochs(1).batchSize(batch).shuffle(false).verbose(false);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        model.close();
    }

    /** One optimizer step on one batch. */
    @Benchmark
    public Object trainStep() {
        return model.fit(x, y, oneStep);
    }

    /** Class probabilities for one batch. */
    @Benchmark
    public NDArray predict() {
        return model.predict(x, batch);
    }
}
