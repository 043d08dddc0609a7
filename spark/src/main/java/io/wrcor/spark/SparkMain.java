package io.wrcor.spark;

import io.wrcor.cli.Main;
import java.io.IOException;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.SparkConf;

/**
 * {@code wrcor score|correlate ... --spark MASTER}: the command's own work, on Spark. The same
 * options, output and results store as without --spark; what is missing from the store is scored
 * by tasks on the cluster's executors and appended by this driver as each task's rows arrive.
 *
 * <p>Options of its own, taken out before the command sees its arguments:
 * {@code --spark MASTER} (local[N], spark://host:port, yarn, k8s://...; under spark-submit the
 * master comes from spark-submit and --spark may be left out), {@code --spark-conf KEY=VALUE}
 * (repeatable: any Spark setting, e.g. spark.task.cpus=2 or the GPU settings),
 * {@code --archs-per-task N} (default 4: small tasks bound what a lost driver loses).
 */
public final class SparkMain {
    private SparkMain() {
    }

    public static void main(String[] args) {
        System.exit(run(args, System.out, System.err));
    }

    public static int run(String[] args, PrintStream out, PrintStream err) {
        List<String> rest = new ArrayList<>();
        SparkConf conf = new SparkConf(true); // spark.* system properties: spark-submit's settings
        String master = null;
        int perTask = 4;
        try {
            for (int i = 0; i < args.length; i++) {
                String a = args[i];
                String name = a.contains("=") && a.startsWith("--") ? a.substring(0, a.indexOf('=')) : a;
                boolean inline = !name.equals(a);
                switch (name) {
                    case "--spark", "--spark-conf", "--archs-per-task" -> {
                        String v = inline ? a.substring(name.length() + 1) : i + 1 < args.length ? args[++i] : null;
                        if (v == null || v.isEmpty() || (!inline && v.startsWith("--"))) return usage(err, "option " + name + " needs a value");
                        if (name.equals("--spark")) master = v;
                        else if (name.equals("--archs-per-task")) {
                            try {
                                perTask = Integer.parseInt(v.trim());
                            } catch (NumberFormatException e) {
                                perTask = -1;
                            }
                            if (perTask < 1 || perTask > 100_000) return usage(err, "option --archs-per-task must be between 1 and 100000, got '" + v + "'");
                        } else {
                            int eq = v.indexOf('=');
                            if (eq <= 0) return usage(err, "option --spark-conf expects KEY=VALUE, got '" + v + "'");
                            conf.set(v.substring(0, eq).trim(), v.substring(eq + 1).trim());
                        }
                    }
                    default -> rest.add(a);
                }
            }
            if (master != null) conf.setMaster(master);
            if (!conf.contains("spark.master")) {
                return usage(err, "no Spark master: give --spark MASTER (local[N], spark://host:port, ...) or run under spark-submit");
            }
            String problem = checkMaster(conf.get("spark.master"));
            if (problem != null) return usage(err, problem);
            if (conf.get("spark.master").startsWith("local") && conf.contains("spark.task.resource.gpu.amount")) {
                return usage(err, "spark.task.resource.gpu.amount: Spark's local mode never gives a task a GPU (its tasks would wait for ever);"
                        + " GPUs are scheduled by a cluster manager (standalone, YARN, Kubernetes: see the README), or use the CUDA backend"
                        + " without Spark (--backend cuda)");
            }
            if (!conf.contains("spark.app.name")) conf.setAppName("wrcor " + (rest.isEmpty() ? "" : rest.getFirst()));
            // the driver's UI is of no use to a command-line job; a cluster's settings may turn it back on
            if (!conf.contains("spark.ui.enabled")) conf.set("spark.ui.enabled", "false");
        } catch (RuntimeException e) {
            return usage(err, String.valueOf(e.getMessage()));
        }
        try (SparkDistributor d = new SparkDistributor(conf, perTask, err)) {
            return Main.run(rest.toArray(String[]::new), out, err, d);
        }
    }

    private static int usage(PrintStream err, String message) {
        err.println("wrcor: error: " + message);
        return 2;
    }

    /**
     * A master URL Spark understands, and for a standalone master (spark://host:port) one that
     * answers within 5 s: Spark itself would retry an unreachable master for a minute or more
     * before giving up. Null when fine, else the one-line problem.
     */
    static String checkMaster(String master) {
        if (master.matches("local(\\[(\\*|[1-9]\\d*)(,[1-9]\\d*)?\\])?") || master.equals("yarn") || master.startsWith("k8s://")) return null;
        if (master.startsWith("local-cluster[")) return null;
        if (!master.startsWith("spark://")) {
            return "--spark '" + master + "' is not a Spark master (local, local[N], local[*], local[N,F], spark://host:port, yarn or k8s://...)";
        }
        for (String hostPort : master.substring("spark://".length()).split(",")) {
            int colon = hostPort.lastIndexOf(':');
            if (colon <= 0) return "--spark " + master + ": '" + hostPort + "' has no port (spark://host:7077)";
            int port;
            try {
                port = Integer.parseInt(hostPort.substring(colon + 1));
            } catch (NumberFormatException e) {
                return "--spark " + master + ": '" + hostPort.substring(colon + 1) + "' is not a port";
            }
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress(hostPort.substring(0, colon), port), 5000);
                return null; // one master of a list answering is enough
            } catch (IOException e) {
                if (!master.contains(",")) {
                    return "cannot reach the Spark master at " + hostPort + ": " + (e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage())
                            + " (is it running? start-master.sh, or the benchmarks/spark-cluster.sh script)";
                }
            }
        }
        return "cannot reach any Spark master of " + master;
    }
}
