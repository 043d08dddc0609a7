package io.wrcor.cli;

import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.util.List;

/** {@code wrcor <command> [options]}: the command line. */
public final class Main {
    private Main() {
    }

    static final String HEADER = """
            usage: wrcor <command> [options]      (wrcor <command> --help: that command's options)

            commands:
              search     zero-shot search (random, regularised evolution, REINFORCE)
              correlate  rank correlation of proxies and votes with a benchmark's accuracy
              score      score architectures with training-free proxies
              bench      time scoring over random architectures (median seconds per architecture)
              serve      the engine as an HTTP/JSON service (scores and long jobs for many clients)
              data       get cifar10 | get cifar100 | list: the public datasets --data NAME means
              help       this text;  --version: the engine's version

            files: the shared folder (fixtures, CIFAR-10 batches, ground truth) is $WRCOR_SHARED, else 'shared'
            beside the project folder; search and correlate save their output under runs/ in the working
            directory unless told otherwise.
            """;

    static final String COMMON = """
            options of every scoring command (score, correlate, search):
              --space S           the search space: nb201 (default), nb101 or mbv2; a --weights folder names its own
              --flops-limit F     mbv2: the sampler's, mutation's and policy's FLOPs limit (default 600e6)
              --data FILE|DIR|NAME  CIFAR-10 binary file (3073-byte records), e.g. ../shared/data/cifar10-train-0.bin,
                                  an ImageFolder (one folder per class, JPEG/PNG; resized and centre-cropped to
                                  the input size, ImageNet mean/std), or cifar10 / cifar100: that training set,
                                  once 'wrcor data get NAME' has fetched it; default: a synthetic N(0,1) batch
              --batch N           batch size (default 64)
              --seed S            seed for weights, batch and sampling (default 0)
              --weights DIR       the network's tensors in the fixture format (manifest.json, PyTorch state_dict
                                  names); DIR's input/target batch is used when present (then --batch is refused
                                  unless --data is given)
              --threads T         CPU threads (default 2)
              --backend NAME      cpu (default), opencl, cuda, auto (cuda, else OpenCL on a GPU, else cpu;
                                  says which), or reference (the slow oracle)
              --channels C --cells N --classes K   network size: NAS-Bench-201 C and cells per stage (default 16,
                                  5, 10), NAS-Bench-101 stem width and cells per stack (default 128, 3, 10)
              --out FILE          results file: rows appended as they are produced; scores already there for the
                                  same settings (network, weights' content, input batch's content, precision,
                                  proxy definition) are reused, so a rerun only computes what is missing; held
                                  locked while in use
              --format F          jsonl (default) or csv, for stdout and --out (default from --out's extension)
              --in-flight K       score K architectures at once, each on its own lane of the backend (queue or
                                  stream, scratch pool, weights); rows still come out and are appended in input
                                  order (default 1, on a GPU as many as half its memory holds, at most 8)
              --devices LIST      several GPUs: '0,1,3' opens the backend (cuda or opencl) on each device and spreads
                                  the in-flight lanes over them, lane i on the (i mod n)-th (default --in-flight:
                                  one lane per device); the cpu backend has one device, 0
              --quiet             no progress (else a bar on a terminal, a plain line every 10 s otherwise)
            """;

    static final String SCORE = """
            wrcor score: one row per architecture on stdout, as JSON lines or CSV
              --arch STR          an architecture (repeatable): NAS-Bench-201
                                  '|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|',
                                  NAS-Bench-101 (rows, a space, ops) '0110;0001;0001;0000 input;conv3x3-bn-relu;maxpool3x3;output',
                                  MobileNetV2-like 'SuperConvK3BNRELU(3,16,2,1)SuperResIDWE6K3(16,24,2,8,2)SuperConvK1BNRELU(24,64,1,1)@224'
                                  or a published genotype by name: @MobileNetV2, @R_our_vote, @EA_our_vote_600M, ...
              --arch-file FILE    one architecture per line ('#' comments and blank lines ignored)
              --sample N          N distinct architectures drawn uniformly at random (with --seed)
              --all               every architecture of the space's accuracy table (NAS-Bench-201: all 15,625;
                                  NAS-Bench-101: the shared folder's 500-table; see correlate --gt)
              --onnx FILE         a network of your own, exported to ONNX (repeatable; one row per model; see
                                  docs/ONNX.md for the ops read); with --batch, --data, --seed, --proxies, --out
              --spark MASTER      run on Apache Spark (local[N], spark://host:7077, yarn, k8s://...; also correlate
                                  and search): see the README's Clusters section for --spark-conf, --archs-per-task
              --proxies LIST      comma-separated; default wrcor and the members of the space's default search objective
                                  (NAS-Bench-201: grad_cor, meco; the others: synflow, jacob_cor); 'all': every one the
                                  space computes: wrcor,wrcor_relu_only,act_cor,grad_cor,act_grad_cor,naswot,jacob_cor,
                                  synflow,snip,grad_norm,params,flops,zico,swap,az_expressivity,az_progressivity,
                                  az_trainability,az_complexity,vkdnw_dim, and (NB201, NB101) meco; vkdnw_entropy and
                                  vkdnw only when named (one backward pass per class)
              --vote V            add a column: V's combined score over the scored set (see correlate --votes)
              --print-stored      also print the rows already in --out (by default only new rows are printed)
            """;

    static final String CORRELATE = """
            wrcor correlate: Spearman rho and Kendall tau-b of proxies and votes against test accuracy
              --gt FILE           the space's accuracy table (default in the shared folder: data/nb201-accuracy.csv,
                                  data/nb101-val-accuracy-500.csv)
              --sample K | --all  architectures of the table to score (default 650, drawn with --seed)
              --proxies LIST      default wrcor,naswot,synflow,jacob_cor,params,flops (vote members are added)
              --votes 'V;V'       votes, each 'proxy[:+|:-],...[@rule]' or a named ensemble: published
                                  (synflow,jacob_cor,wrcor@copeland), recommended (grad_cor,meco@soft-z), az_nas
                                  (az_expressivity,az_progressivity,az_trainability,az_complexity@log-rank), vkdnw_agg
                                  (vkdnw,az_expressivity,az_trainability,az_complexity,jacob_cor@log-rank)
                                  (default synflow,jacob_cor,wrcor)
              --vote-rules LIST   of copeland, soft-z, soft-rank, log-rank (default the first three), for votes without @rule
              --arch-file FILE    study these architectures (one per line) instead of a sample
              --run-dir DIR       where the scores (unless --out), the CSV/Markdown table and the scatter plots go
                                  (default runs/correlate-<date>-<time>)
              --report DIR        the table and plots only, elsewhere
              --onnx-dir DIR      your own benchmark: every *.onnx model in DIR that --gt TABLE (CSV: model,accuracy,...)
                                  lists, scored and ranked against each accuracy column (see docs/ONNX.md)
            """;

    static final String SEARCH = """
            wrcor search: zero-shot search; prints the found architecture, its scores, accuracy and rank
              --algo A            random, evolution (default) or reinforce
              --objective V       a proxy, a vote 'proxy[:+|:-],...[@rule]' or a named ensemble (see correlate --votes);
                                  default recommended on NAS-Bench-201 (where it was chosen and measured), else published
              --n N               architectures to evaluate (default 1000)
              --population P --tournament S        evolution (default 64, 10)
              --children K        architectures per round, scored together (in parallel with --in-flight K):
                                  evolution, K children from K tournaments on the population as it stands;
                                  reinforce, K samples per policy update; random, K draws. 1 (default) is
                                  the published algorithm, step for step
              --lr X --ema M --calibration K       REINFORCE: Adam lr (1e-3), baseline momentum (0.9), random
                                                   architectures for the reward's z-scores (100)
              --pick P            the answer: running (default, as the published code: the search's running
                                  best by the comparator, a tie keeping the newer one; with a vote it can
                                  cycle, a pairwise majority not being transitive), copeland (the
                                  Copeland winner among all evaluated architectures), or soft-z, soft-rank,
                                  log-rank (that rule over all evaluated architectures)
              --runs R            R searches with seeds S, S+1, ..., side by side (each round's architectures of
                                  all runs scored together, in parallel with --in-flight); mean and std of the
                                  found accuracy
              --gt FILE | --no-gt ground truth for the found architecture's accuracy and rank (default as correlate)
              --run-dir DIR       where scores (unless --out), trajectory (unless --trajectory) and summary.json go
                                  (default runs/search-<date>-<time>)
              --trajectory FILE   every evaluation as a JSON line
            """;

    static final String BENCH = """
            wrcor bench: seconds per architecture over random architectures, after an untimed warm-up pass
              --archs N (default 20)  --batch N (64)  --threads T (2)  --seed S (0)  --data FILE  --backend NAME
              --space NAME (nb201)  --sets 'wrcor;synflow,jacob_cor,wrcor'   proxy sets to time, separated by ';'
              --onnx FILE         time one ONNX model instead (--repeat R runs per set, default 5; --batch, --threads,
                                  --sets, --backend, --data as above)
              --profile           time per backend op as well (slowest first)
              --no-warmup         skip the untimed pass (first architectures then include JIT compilation)
              --largest-of M      time the --archs candidates that need the most memory among M sampled
              --arch-file FILE    time these architectures (one per line) instead of random ones
              --per-arch          also print each architecture's seconds, in the order given
              --flops-limit F     mbv2: the sampler's FLOPs limit (default 600e6)
              --in-flight 'K,...' throughput (architectures per second) with K architectures in flight, each K
            """;

    static final String SERVE = """
            wrcor serve: the engine as an HTTP/JSON service (GET /v1/health, POST /v1/score), until SIGTERM
              --host H (127.0.0.1)  --port P (8080; 0 picks a free one)  --backend NAME  --threads T
              --data-dir DIR      jobs, results files, and the only place request paths may name (default wrcor-data
                                  in the working directory); unfinished jobs found there resume at start
              --in-flight K       architectures scored at once, each on its own lane of the backend (default 1)
              --devices LIST      several GPUs ('0,1'): the lanes spread over them, one per device by default
              --token-file FILE   require 'Authorization: Bearer TOKEN' (at least 16 characters) on every request;
                                  needed to bind to an address other than loopback
            """;

    static final String DATA = """
            wrcor data: the public datasets that --data NAME means
              get NAME            download the official binary archive of cifar10 or cifar100 (about 160 MB), check its
                                  published MD5, unpack the training and test sets into the cache; an interrupted
                                  download resumes when run again
                --url URL --md5 HEX   a mirror of the archive, with its MD5
              list                what is downloaded, and where (-Dwrcor.datasets or $WRCOR_DATASETS to keep them elsewhere)
            """;

    static final String USAGE = HEADER + "\n" + COMMON + "\n" + SCORE + "\n" + CORRELATE + "\n" + SEARCH + "\n" + BENCH + "\n" + SERVE + "\n" + DATA;

    /** The usage text of one command. */
    static String usage(String command) {
        return switch (command) {
            case "score" -> SCORE + "\n" + COMMON;
            case "correlate" -> CORRELATE + "\n" + COMMON;
            case "search" -> SEARCH + "\n" + COMMON;
            case "bench" -> BENCH;
            case "serve" -> SERVE;
            case "data" -> DATA;
            default -> USAGE;
        };
    }

    /** The engine's version (from the build), e.g. "0.1.0-SNAPSHOT". */
    static String version() {
        try (var in = Main.class.getResourceAsStream("/wrcor-version.properties")) {
            if (in == null) return "unknown";
            var p = new java.util.Properties();
            p.load(in);
            return p.getProperty("version", "unknown");
        } catch (java.io.IOException e) {
            return "unknown";
        }
    }

    public static void main(String[] args) {
        System.exit(run(args, System.out, System.err));
    }

    /** Runs a command; returns the exit code (0 ok, 2 bad input, 1 internal failure). */
    public static int run(String[] args, PrintStream out, PrintStream err) {
        return run(args, out, err, null);
    }

    /**
     * As above, with {@code score} and {@code correlate} computing what is missing through
     * {@code remote} (the Spark job's entry point) when it is not null.
     */
    public static int run(String[] args, PrintStream out, PrintStream err, io.wrcor.dist.Distributor remote) {
        if (args.length == 0) {
            err.print(USAGE);
            return 2;
        }
        if (args.length > 1 && (java.util.Arrays.asList(args).contains("--help") || java.util.Arrays.asList(args).contains("-h"))) {
            out.print(usage(args[0]));
            return 0;
        }
        try {
            if (remote == null && java.util.Arrays.stream(args).anyMatch(x -> x.equals("--spark") || x.startsWith("--spark="))) {
                throw new UsageException("--spark runs the command through the wrcor-spark module (Spark is not on this classpath):"
                        + " use bin/wrcor, which builds and starts it, or spark-submit --class io.wrcor.spark.SparkMain (see the README)");
            }
            if (remote != null && !List.of("score", "correlate", "search").contains(args[0])) {
                throw new UsageException("--spark: " + io.wrcor.util.Json.clip(args[0]) + " does not run on Spark (score, correlate and search do)");
            }
            switch (args[0]) {
                case "score" -> ScoreCommand.run(args, out, err, remote);
                case "bench" -> BenchCommand.run(args, out, err);
                case "serve" -> ServeCommand.run(args, out, err);
                case "data" -> DataCommand.run(args, out, err);
                case "correlate" -> CorrelateCommand.run(args, out, err, remote);
                case "search" -> SearchCommand.run(args, out, err, remote);
                case "help", "--help", "-h" -> out.print(USAGE);
                case "--version", "version" -> out.println("wrcor " + version() + " (Java " + Runtime.version() + ")");
                default -> throw new UsageException("unknown command '" + io.wrcor.util.Json.clip(args[0]) + "' (expected score, correlate, search, bench, serve, data, help or --version)");
            }
            return 0;
        } catch (UsageException | IllegalArgumentException e) {
            err.println("wrcor: error: " + io.wrcor.util.Json.clip(String.valueOf(e.getMessage()), 1000));
            return 2;
        } catch (UncheckedIOException e) {
            err.println("wrcor: error: " + io.wrcor.util.Files2.reason(e.getCause()) + " (" + e.getCause().getMessage() + ")");
            return 2;
        } catch (IllegalStateException e) {
            err.println("wrcor: error: " + io.wrcor.util.Json.clip(String.valueOf(e.getMessage()), 1000));
            return 1;
        } catch (OutOfMemoryError e) {
            err.println("wrcor: error: out of memory (" + e.getMessage() + "); try a smaller --batch or network");
            return 1;
        }
    }
}
