package io.wrcor;

import io.wrcor.backend.Backend;
import io.wrcor.data.Batch;
import io.wrcor.graph.Weights;
import io.wrcor.proxy.Proxy;
import io.wrcor.proxy.Scorer;
import io.wrcor.space.Arch;
import io.wrcor.space.NetSize;
import io.wrcor.space.SearchSpace;
import io.wrcor.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Several architectures in flight: K lanes, each an engine on its own lane of one backend (its own
 * command queue or stream, its own scratch pool and weights, its own copy of the input batch on
 * the device), driven by its own thread. Architectures are handed out in order as lanes come free;
 * results come back to the caller in input order, on the caller's thread, so whatever the caller
 * appends is in the same order for every K. Each architecture's scores do not depend on the lane
 * that computed it (the weights are drawn from the seed and the layer's name).
 *
 * <p>Lane 0 is the backend given; it and the others are driven only by their lane's thread while
 * a {@link #score} call runs.
 */
public final class InFlight implements AutoCloseable {
    private final List<Backend> backends = new ArrayList<>();
    private final List<Engine> engines = new ArrayList<>();
    private final List<Batch> batches = new ArrayList<>();
    private final Arena arena = Arena.ofShared();
    private int devices = 1; // lanes below this are the caller's devices; the others were made here

    /** Where results go, in input order. */
    @FunctionalInterface
    public interface Sink {
        void accept(int index, Scorer.Result result, double seconds);
    }

    /**
     * @param backend lane 0's backend (the others are its {@link Backend#newLane lanes}, closed here;
     *                the caller closes this one)
     * @param k       lanes, at least 1
     */
    public InFlight(Backend backend, SearchSpace space, NetSize net, Batch batch, int k) {
        this(List.of(backend), space, net, batch, k);
    }

    /**
     * K lanes spread over {@code devices} ({@link io.wrcor.backend.Backends#lane}: lane i on device
     * i mod n; the devices themselves are the caller's to close, the further lanes are closed here).
     */
    public InFlight(List<Backend> devices, SearchSpace space, NetSize net, Batch batch, int k) {
        if (k < 1) throw new IllegalArgumentException("in-flight lanes must be >= 1, got " + k);
        this.devices = devices.size();
        try {
            for (int i = 0; i < k; i++) {
                Backend b = io.wrcor.backend.Backends.lane(devices, i);
                backends.add(b);
                engines.add(new Engine(b, space, net));
                batches.add(i == 0 ? batch : copy(batch));
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** A host copy of the batch: a lane's device copy of the input follows a tensor of its own. */
    private Batch copy(Batch b) {
        Tensor t = Tensor.allocate(arena, b.input().dtype(), b.input().shape());
        t.hostSegment().copyFrom(b.input().read());
        return new Batch(t, b.labels().clone());
    }

    public int lanes() {
        return engines.size();
    }

    /** Lane i's backend (its transfer counters, say). */
    public Backend backend(int i) {
        return backends.get(i);
    }

    /** Lane i's engine (its peak scratch bytes, say). */
    public Engine engine(int i) {
        return engines.get(i);
    }

    /**
     * Scores every architecture with weights drawn from {@code seed} (or the fixed {@code weights}
     * when not null), handing each result to {@code sink} in input order as soon as it and every
     * earlier one are done. The first failure stops the lanes after their current architecture and
     * is thrown here, after the results before it have been handed over.
     */
    public void score(List<? extends Arch> archs, long seed, Weights weights, List<Proxy> proxies, Sink sink) {
        int n = archs.size(), k = Math.min(lanes(), Math.max(1, n));
        Scorer.Result[] done = new Scorer.Result[n];
        double[] secs = new double[n];
        RuntimeException[] failed = new RuntimeException[n];
        AtomicInteger next = new AtomicInteger();
        Object lock = new Object();
        List<Thread> threads = new ArrayList<>();
        for (int lane = 0; lane < k; lane++) {
            Engine engine = engines.get(lane);
            Backend backend = backends.get(lane);
            Batch batch = batches.get(lane);
            Thread t = Thread.ofPlatform().name("wrcor-lane-" + lane).daemon(true).unstarted(() -> {
                backend.attachThread();
                for (int i; (i = next.getAndIncrement()) < n; ) {
                    Scorer.Result r = null;
                    RuntimeException error = null;
                    long t0 = System.nanoTime();
                    try {
                        r = weights != null ? engine.score(archs.get(i), weights, batch, proxies) : engine.score(archs.get(i), seed, batch, proxies);
                    } catch (RuntimeException | OutOfMemoryError e) {
                        error = e instanceof RuntimeException re ? re : new IllegalStateException(e.toString(), e);
                        next.set(n); // no new architectures after a failure
                    }
                    synchronized (lock) {
                        secs[i] = (System.nanoTime() - t0) / 1e9;
                        done[i] = r;
                        failed[i] = error;
                        lock.notifyAll();
                    }
                    if (error != null) return;
                }
            });
            threads.add(t);
            t.start();
        }
        try {
            for (int i = 0; i < n; i++) {
                Scorer.Result r;
                double sec;
                synchronized (lock) {
                    while (done[i] == null && failed[i] == null) {
                        if (threads.stream().noneMatch(Thread::isAlive) && done[i] == null && failed[i] == null) {
                            throw firstFailure(failed, "architecture " + i + " was never scored");
                        }
                        lock.wait(100);
                    }
                    if (failed[i] != null) throw failed[i];
                    r = done[i];
                    sec = secs[i];
                    done[i] = null; // let the result go once handed over
                }
                sink.accept(i, r, sec);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            next.set(n);
            throw new IllegalStateException("interrupted", e);
        } finally {
            next.set(n);
            for (Thread t : threads) {
                try {
                    t.join();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }
    }

    private static RuntimeException firstFailure(RuntimeException[] failed, String otherwise) {
        for (RuntimeException e : failed) if (e != null) return e;
        return new IllegalStateException(otherwise);
    }

    /** Closes every lane's engine and the lanes' backends (not lane 0's backend, the caller's). */
    @Override
    public void close() {
        RuntimeException first = null;
        for (int i = engines.size() - 1; i >= 0; i--) {
            try {
                engines.get(i).close();
                if (i >= devices && i < backends.size() && backends.get(i) instanceof AutoCloseable c) c.close();
            } catch (Exception e) {
                if (first == null) first = e instanceof RuntimeException re ? re : new IllegalStateException(e);
            }
        }
        arena.close();
        if (first != null) throw first;
    }
}
