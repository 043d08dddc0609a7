package io.wrcor.cli;

import java.io.PrintStream;
import java.io.UncheckedIOException;

/** {@code wrcor <command> [options]}: the command line. */
public final class Main {
    private Main() {
    }

    static final String USAGE = """
            usage: wrcor <command> [options]

            commands:
              score   score NAS-Bench-201 architectures with training-free proxies
              bench   time scoring over random architectures (median seconds per architecture)
              help    this text

            score options:
              --arch STR          an arch string, e.g. '|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|' (repeatable)
              --arch-file FILE    one arch string per line ('#' comments and blank lines ignored)
              --sample N          N architectures drawn uniformly at random (with --seed)
              --weights DIR       score the network whose tensors are in DIR (fixture format: manifest.json, PyTorch
                                  state_dict names); DIR's input/target batch is used when present
              --proxies LIST      comma-separated, default all: wrcor,wrcor_relu_only,act_cor,grad_cor,act_grad_cor,
                                  naswot,jacob_cor,synflow,snip,grad_norm,params,flops
              --data FILE         CIFAR-10 binary file (3073-byte records); default: a synthetic N(0,1) batch
              --batch N           batch size (default 64)
              --seed S            seed for weights, batch and sampling (default 0)
              --threads T         CPU threads (default 2)
              --backend NAME      cpu (default) or reference (the slow oracle)
              --channels C --cells N --classes K   network size (default 16, 5, 10)
              --out FILE          append results to FILE as they are produced; a rerun skips rows already there
              --format F          jsonl (default) or csv, for stdout and --out (default from --out's extension)
              --quiet             no progress bar

            bench options:
              --archs N (default 20)  --batch N (64)  --threads T (2)  --seed S (0)  --data FILE
              --sets 'wrcor;synflow,jacob_cor,wrcor'   proxy sets to time, separated by ';'
              (every set first scores the architectures once untimed: JIT and scratch memory warm up)
            """;

    public static void main(String[] args) {
        System.exit(run(args, System.out, System.err));
    }

    /** Runs a command; returns the exit code (0 ok, 2 bad input, 1 internal failure). */
    public static int run(String[] args, PrintStream out, PrintStream err) {
        if (args.length == 0) {
            err.print(USAGE);
            return 2;
        }
        try {
            switch (args[0]) {
                case "score" -> ScoreCommand.run(args, out, err);
                case "bench" -> BenchCommand.run(args, out, err);
                case "correlate" -> CorrelateCommand.run(args, out, err);
                case "search" -> SearchCommand.run(args, out, err);
                case "help", "--help", "-h" -> out.print(USAGE);
                default -> throw new UsageException("unknown command '" + args[0] + "' (expected score, correlate, search, bench or help)");
            }
            return 0;
        } catch (UsageException | IllegalArgumentException e) {
            err.println("wrcor: error: " + e.getMessage());
            return 2;
        } catch (UncheckedIOException e) {
            err.println("wrcor: error: " + e.getCause().getMessage());
            return 2;
        } catch (IllegalStateException e) {
            err.println("wrcor: error: " + e.getMessage());
            return 1;
        }
    }
}
