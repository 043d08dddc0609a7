package io.wrcor.spark;

import io.wrcor.dist.Distributor;
import io.wrcor.dist.WorkSpec;
import io.wrcor.dist.Worker;
import io.wrcor.dist.WorkerPool;
import java.io.Serial;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.SparkConf;
import org.apache.spark.SparkException;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.resource.ResourceInformation;
import scala.collection.Iterator;
import scala.reflect.ClassTag;
import scala.reflect.ClassTag$;
import scala.runtime.AbstractFunction2;
import scala.runtime.BoxedUnit;

/**
 * Scores on a Spark cluster (or in local mode): the architectures become an RDD of small partitions;
 * each task borrows a warm {@link Worker} of its executor ({@link WorkerPool}: one per task slot,
 * kept for the executor's lifetime), with the CUDA device Spark assigned it when the task asked for
 * a GPU, and returns its rows with the task's result. The driver hands each partition's rows to the
 * sink as that partition completes (SparkContext.runJob's result handler, called once per
 * partition whatever retries or speculative copies ran), so only the driver writes the store, and
 * a lost driver loses at most the partitions in flight. The context is made on the first call:
 * a rerun that finds everything stored starts no Spark at all.
 */
final class SparkDistributor implements Distributor, AutoCloseable {
    private final SparkConf conf;
    private final int archsPerTask;
    private final java.io.PrintStream err;
    private JavaSparkContext sc;

    SparkDistributor(SparkConf conf, int archsPerTask, java.io.PrintStream err) {
        this.conf = conf;
        this.archsPerTask = archsPerTask;
        this.err = err;
    }

    JavaSparkContext context() {
        if (sc == null) {
            sc = new JavaSparkContext(conf);
            sc.setLogLevel("WARN");
            sc.sc().addSparkListener(new TaskFailures(err));
        }
        return sc;
    }

    /**
     * One line per failed task attempt (Spark's own log of it, with the stack trace, is kept quiet):
     * which task, where, why, and that Spark runs it again while attempts remain.
     */
    static final class TaskFailures extends org.apache.spark.scheduler.SparkListener {
        private final java.io.PrintStream err;

        TaskFailures(java.io.PrintStream err) {
            this.err = err;
        }

        @Override
        public void onTaskEnd(org.apache.spark.scheduler.SparkListenerTaskEnd end) {
            // a task killed because its job was cancelled is a consequence, not a failure of its own
            if (end.reason() instanceof org.apache.spark.Success$ || end.reason() instanceof org.apache.spark.TaskKilled) return;
            var info = end.taskInfo();
            String why = end.reason() instanceof org.apache.spark.ExceptionFailure f ? f.description()
                    : end.reason() instanceof org.apache.spark.TaskFailedReason r ? r.toErrorString() : end.reason().toString();
            err.println("wrcor: task " + info.index() + " (attempt " + info.attemptNumber() + ") on executor " + info.executorId() + " (" + info.host()
                    + ") failed: " + firstLine(why));
        }
    }

    static String firstLine(String s) {
        int nl = s == null ? -1 : s.indexOf('\n');
        return nl >= 0 ? s.substring(0, nl) : String.valueOf(s);
    }

    @Override
    public String describe() {
        String master = conf.get("spark.master", "?");
        return "Spark (" + master + ", " + archsPerTask + " architectures per task)";
    }

    @Override
    public void scoreAll(WorkSpec spec, List<String> archs, List<String> proxies, Sink sink) {
        if (archs.isEmpty()) return;
        JavaSparkContext jsc;
        Broadcast<WorkSpec> b;
        try {
            jsc = context();
            b = jsc.broadcast(spec);
        } catch (RuntimeException e) {
            throw new IllegalStateException("cannot start the Spark job on " + conf.get("spark.master", "?") + ": " + reason(e), e);
        }
        int slices = Math.max(1, (archs.size() + archsPerTask - 1) / archsPerTask);
        var rdd = jsc.parallelize(new ArrayList<>(archs), slices).rdd();
        ClassTag<ArrayList<Worker.Scored>> tag = ClassTag$.MODULE$.apply(ArrayList.class);
        try {
            jsc.sc().runJob(rdd, new ScoreTask(b, new ArrayList<>(proxies), FaultInjection.fromConf(conf)), new Handler(sink), tag);
        } catch (Exception e) { // Scala declares no checked exceptions: a SparkException comes through undeclared
            close(); // stopping drains the listener bus: its lines about failed tasks come before the job's error
            if (e instanceof SparkException || e.getCause() instanceof SparkException) {
                throw new IllegalArgumentException("the Spark job failed: " + reason(e), e);
            }
            if (e instanceof IllegalArgumentException || e instanceof IllegalStateException) throw (RuntimeException) e;
            throw new IllegalStateException("the Spark job failed: " + reason(e), e);
        } finally {
            if (sc != null) b.destroy();
        }
    }

    /**
     * The first line of the failure that stopped the job, without Spark's framing: for a task's
     * exception, the exception's own message ("most recent failure: Lost task ... (TID n) (host
     * executor id): class: message" in Spark's text), else the deepest cause's message.
     */
    static String reason(Throwable e) {
        String m = String.valueOf(e.getMessage());
        int lost = m.indexOf("most recent failure: ");
        if (lost >= 0) {
            String rest = m.substring(lost);
            int firstLine = rest.indexOf('\n');
            if (firstLine > 0) rest = rest.substring(0, firstLine);
            int colon = rest.indexOf("): ");
            String failure = colon >= 0 ? rest.substring(colon + 3) : rest;
            // "io.wrcor...UnavailableException: cuda backend unavailable: ..." -> the message
            int cls = failure.indexOf(": ");
            if (cls > 0 && failure.substring(0, cls).matches("[\\w.$]+")) failure = failure.substring(cls + 2);
            String where = rest.startsWith("most recent failure: Lost task ") ? " (" + rest.substring("most recent failure: ".length(), Math.max(colon, 0)) + ")" : "";
            return failure + where.replace("((", "(");
        }
        Throwable t = e;
        while (t.getCause() != null && t.getCause() != t) t = t.getCause();
        String line = String.valueOf(t.getMessage());
        int nl = line.indexOf('\n');
        return nl > 0 ? line.substring(0, nl) : line;
    }

    @Override
    public void close() {
        if (sc != null) {
            sc.stop();
            sc = null;
        }
    }

    /** A task: this partition's architectures on a warm worker of this executor. */
    static final class ScoreTask extends AbstractFunction2<TaskContext, Iterator<String>, ArrayList<Worker.Scored>> implements Serializable {
        @Serial
        private static final long serialVersionUID = 1L;
        private final Broadcast<WorkSpec> spec;
        private final ArrayList<String> proxies;
        private final FaultInjection faults;

        ScoreTask(Broadcast<WorkSpec> spec, ArrayList<String> proxies, FaultInjection faults) {
            this.spec = spec;
            this.proxies = proxies;
            this.faults = faults;
        }

        @Override
        public ArrayList<Worker.Scored> apply(TaskContext ctx, Iterator<String> archs) {
            WorkSpec s = spec.value();
            int threads = s.threads() > 0 ? s.threads() : Math.max(1, ctx.cpus());
            Integer device = gpuAddress(ctx);
            var wanted = WorkSpec.proxies(proxies);
            ArrayList<Worker.Scored> rows = new ArrayList<>();
            Worker w;
            try {
                w = WorkerPool.borrow(s, threads, device);
            } catch (io.wrcor.backend.Backends.UnavailableException e) {
                if (device == null) throw e;
                throw new IllegalArgumentException("the GPU Spark assigned this task (address " + device + "): " + e.getMessage(), e);
            }
            try {
                while (archs.hasNext()) rows.add(w.score(archs.next(), wanted));
            } finally {
                WorkerPool.giveBack(s, threads, device, w);
            }
            faults.afterScoring(ctx);
            return rows;
        }
    }

    /**
     * The CUDA device of the GPU Spark assigned this task (its first address), or null when the task
     * has none; an address that is not a device index is refused with the address named.
     */
    static Integer gpuAddress(TaskContext ctx) {
        ResourceInformation gpu = ctx.resourcesJMap().get("gpu");
        if (gpu == null || gpu.addresses().length == 0) return null;
        String a = gpu.addresses()[0];
        try {
            return Integer.parseInt(a.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("Spark assigned this task the GPU address '" + a + "', which is not a CUDA device index"
                    + " (the discovery script must print indices such as \"0\", \"1\")");
        }
    }

    /** On the driver, once per partition: its rows into the sink. */
    static final class Handler extends AbstractFunction2<Object, ArrayList<Worker.Scored>, BoxedUnit> implements Serializable {
        @Serial
        private static final long serialVersionUID = 1L;
        private final transient Sink sink;

        Handler(Sink sink) {
            this.sink = sink;
        }

        @Override
        public BoxedUnit apply(Object partition, ArrayList<Worker.Scored> rows) {
            synchronized (this) {
                for (Worker.Scored r : rows) sink.accept(r);
            }
            return BoxedUnit.UNIT;
        }
    }
}
