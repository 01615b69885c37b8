package dev.osprey.cli;

import dev.osprey.backend.BackendException;
import java.io.IOException;
import java.io.PrintWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The `osprey` command: train, evaluate, predict and summarize image classifiers. */
@Command(name = "osprey", mixinStandardHelpOptions = true, version = "osprey 0.1.0",
        description = "Train and use image classifiers on NVIDIA GPUs (cuDNN, cuBLAS) or the CPU (oneDNN).")
public final class OspreyCommand implements Runnable {
    /** The subcommands, in --help's order. Only the one named on the command line is built (picocli's reflection
     *  over every command's options took a tenth of a second at each start). */
    private static final java.util.Map<String, java.util.function.Supplier<Object>> COMMANDS = new java.util.LinkedHashMap<>();

    static {
        COMMANDS.put("train", TrainCommand::new);
        COMMANDS.put("evaluate", EvaluateCommand::new);
        COMMANDS.put("predict", PredictCommand::new);
        COMMANDS.put("summary", SummaryCommand::new);
        COMMANDS.put("serve", ServeCommand::new);
        COMMANDS.put("bench", BenchCommand::new);
        COMMANDS.put("import", ImportCommand::new);
        COMMANDS.put("finetune", FinetuneCommand::new);
        COMMANDS.put("export", ExportCommand::new);
        COMMANDS.put("quantize", QuantizeCommand::new);
    }

    /** Commands that compute: the native libraries they need load on other threads while the command line and
     *  the model file are read. */
    private static final java.util.Set<String> COMPUTING = java.util.Set.of("train", "evaluate", "predict", "serve", "bench",
            "quantize");

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @CommandLine.Option(names = "--verbose", scope = CommandLine.ScopeType.INHERIT,
            description = "Log details (debug level): the full reason for the device choice, every HTTP request, ...")
    boolean verbose; // read from the raw arguments in execute(), before anything logs

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    /**
     * Runs the command line, then exits the JVM with its exit code (see {@link #execute}); the CPU backend computes on
     * the main thread where {@link #computesFromOneThread} (-Dosprey.cpu.deviceThread=false unless set).
     */
    public static void main(String[] args) {
        if (computesFromOneThread(args)) {
            defaultProperty("osprey.cpu.deviceThread", "false");
        }
        System.exit(execute(args));
    }

    /**
     * Whether a command line computes from its main thread alone, so that the CPU backend can run compute there rather
     * than hand each call to a thread of its own. Not so for serve (the main thread loads and plans, the predictor's
     * thread serves: two threads, which in caller mode would make two OpenMP pools) nor for training on several
     * devices (--devices: a thread per replica).
     */
    static boolean computesFromOneThread(String[] args) {
        java.util.List<String> words = java.util.Arrays.asList(args);
        boolean serving = words.stream().filter(a -> !a.startsWith("-")).findFirst().orElse("").equals("serve");
        boolean replicas = words.stream().anyMatch(a -> a.equals("--devices") || a.startsWith("--devices="));
        return !serving && !replicas;
    }

    /** Runs a command line and returns its exit code (0 success, 1 failure, 2 usage error). */
    public static int execute(String... args) {
        // The CLI's SLF4J binding (slf4j-simple): "osprey: INFO message", one line each, Jetty's start-up chatter off.
        boolean verbose = java.util.Arrays.asList(args).contains("--verbose");
        defaultProperty("org.slf4j.simpleLogger.defaultLogLevel", verbose ? "debug" : "info");
        defaultProperty("org.slf4j.simpleLogger.log.org.eclipse.jetty", verbose ? "info" : "warn");
        defaultProperty("org.slf4j.simpleLogger.showThreadName", "false");
        defaultProperty("org.slf4j.simpleLogger.showLogName", "false");
        defaultProperty("org.slf4j.simpleLogger.levelInBrackets", "false");
        defaultProperty("org.slf4j.simpleLogger.warnLevelString", "warning:");
        String first = args.length > 0 ? args[0] : "";
        if (COMPUTING.contains(first)) {
            Preload.start(args);
        }
        CommandLine cli = new CommandLine(new OspreyCommand());
        if (COMMANDS.containsKey(first)) {
            cli.addSubcommand(first, COMMANDS.get(first).get());
        } else {
            COMMANDS.forEach((name, command) -> cli.addSubcommand(name, command.get()));
        }
        // "--class-names @FILE" is this CLI's own syntax: picocli's argument files would splice FILE's lines in first.
        cli.setExpandAtFiles(false);
        // A mistyped option: the one line that says what was wrong and where the options are, not the whole usage.
        cli.setParameterExceptionHandler((e, arguments) -> {
            PrintWriter err = e.getCommandLine().getErr();
            err.println("osprey: error: " + e.getMessage());
            CommandLine.UnmatchedArgumentException.printSuggestions(e, err); // "Did you mean: --epochs?"
            String command = e.getCommandLine().getCommandSpec().qualifiedName(" ");
            err.println("(the options: " + command + " --help)");
            err.flush();
            return 2;
        });
        cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            PrintWriter err = commandLine.getErr();
            for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
                if (t instanceof OutOfMemoryError oom) { // from a worker thread, wrapped
                    err.flush();
                    return outOfMemory(oom, System.err, Runtime.getRuntime().maxMemory());
                }
            }
            if (e instanceof IllegalArgumentException || e instanceof IOException || e instanceof BackendException
                    || e instanceof IllegalStateException || e instanceof java.io.UncheckedIOException
                    || e instanceof dev.osprey.TrainingDivergedException
                    || e instanceof UnsupportedOperationException) {
                err.println("osprey: error: " + message(e));
                err.flush();
                return 1;
            }
            if (verbose) {
                throw e; // the stack trace, for a report
            }
            // a defect: one line still, and where the details are
            err.println("osprey: error: " + e + " (an unexpected failure: --verbose shows where it happened)");
            err.flush();
            return 1;
        });
        try {
            return cli.execute(args);
        } catch (OutOfMemoryError e) { // not an Exception, so picocli's handlers never see it
            return outOfMemory(e, System.err, Runtime.getRuntime().maxMemory());
        }
    }

    /** One line for a Java heap that ran out: how large it was, and how to give java more. Exit code 1. */
    static int outOfMemory(OutOfMemoryError e, java.io.PrintStream err, long maxHeapBytes) {
        String what = String.valueOf(e.getMessage());
        if (what.contains("Java heap space") || what.contains("GC overhead")) {
            long mb = maxHeapBytes >> 20;
            long suggested = Math.max(2, (maxHeapBytes >> 30) * 2 + 1);
            err.println("osprey: error: the Java heap ran out (" + what + ", at most " + mb + " MB): give java more, "
                    + "e.g. OSPREY_JAVA_OPTS=-Xmx" + suggested + "g ./osprey ...");
        } else { // threads, metaspace, direct buffers: not the heap's size
            err.println("osprey: error: out of memory: " + what);
        }
        err.flush();
        return 1;
    }

    private static void defaultProperty(String name, String value) {
        if (System.getProperty(name) == null) {
            System.setProperty(name, value);
        }
    }

    private static String message(Throwable e) {
        // an exception that only wraps another ("java.io.UncheckedIOException: dev.osprey...: the message"): its cause's
        while (e.getCause() != null && e.getCause() != e && (e.getMessage() == null
                || e.getMessage().equals(e.getCause().toString()))) {
            e = e.getCause();
        }
        if (e instanceof dev.osprey.data.images.ImageDecodeException) {
            return e.getMessage() + " (--skip-bad-files skips such files)";
        }
        if (e instanceof java.nio.file.NoSuchFileException n) {
            return "no such file: " + n.getFile();
        }
        return e.getMessage() == null ? e.toString() : e.getMessage();
    }
}
