package io.wrcor.serve;

import io.wrcor.Engine;
import io.wrcor.backend.Backend;
import io.wrcor.data.Batch;
import io.wrcor.proxy.Proxy;
import io.wrcor.proxy.Scorer;
import io.wrcor.space.Arch;
import io.wrcor.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The one way to the backend: every architecture any request or job wants scored is a {@link Work}
 * queued here, and K lanes (an engine on its own {@link Backend#newLane lane} of the backend, one
 * platform thread each; K = 1 on the host) take them as they come free, so the backend stays busy
 * whoever asked.
 *
 * <p>Fair share: work is queued per client and, within a client, per owner (a request or a job);
 * the lanes take one architecture from each client in turn, and within a client from each of its
 * owners in turn. A client with a 15,625-architecture job therefore delays another client's
 * small request by at most one architecture per lane, and its own small requests likewise.
 */
final class Scheduler implements AutoCloseable {
    /** One architecture to score, and where its result goes (called on a lane thread). */
    interface Work {
        Settings settings();

        Arch arch();

        List<Proxy> proxies();

        void done(Scorer.Result result, double seconds);

        void failed(RuntimeException error);

        /** What the work scores, for messages. */
        default String describe() {
            return String.valueOf(arch());
        }

        /**
         * Scores the work on a lane: by default the architecture on the lane's engine for its settings;
         * a network of its own (an ONNX model) overrides this and runs on {@code scorer}, the lane's.
         */
        default Scorer.Result scoreOn(Engine engine, Scorer scorer, Batch batch) {
            return engine.score(arch(), settings().seed(), batch, proxies());
        }
    }

    /** The failure of work still queued when the server stops. */
    static final class StoppingException extends IllegalStateException {
        StoppingException() {
            super("the server is stopping");
        }
    }

    private static final class Owner {
        final Object key;
        final String client;
        final ArrayDeque<Work> queue = new ArrayDeque<>();

        Owner(Object key, String client) {
            this.key = key;
            this.client = client;
        }
    }

    private final Object lock = new Object();
    private final Map<String, ArrayDeque<Owner>> byClient = new LinkedHashMap<>(); // clients with queued work
    private final ArrayDeque<String> ring = new ArrayDeque<>(); // their turn order
    private final Map<Object, Owner> owners = new IdentityHashMap<>();
    private int queued, running;
    private long scored; // architectures scored, and their seconds, for the metrics
    private double scoredSeconds;
    private boolean stopping;
    private final List<Thread> lanes = new ArrayList<>();
    private final List<Backend> laneBackends = new ArrayList<>();
    private int deviceCount = 1; // lanes below this are the caller's devices

    /**
     * Starts {@code k} lanes on {@code backend} (lane 0 is the backend itself; the others are its
     * lanes, closed here; the caller closes the backend).
     */
    Scheduler(Backend backend, int k) {
        this(List.of(backend), k);
    }

    /** K lanes spread over {@code devices} (lane i on device i mod n); the devices are the caller's to close. */
    Scheduler(List<Backend> devices, int k) {
        if (k < 1) throw new IllegalArgumentException("lanes must be >= 1, got " + k);
        deviceCount = devices.size();
        try {
            for (int i = 0; i < k; i++) laneBackends.add(io.wrcor.backend.Backends.lane(devices, i));
        } catch (RuntimeException e) {
            closeLanes();
            throw e;
        }
        for (int i = 0; i < k; i++) {
            Lane lane = new Lane(laneBackends.get(i));
            Thread t = Thread.ofPlatform().name("wrcor-lane-" + i).daemon(true).unstarted(lane::loop);
            lanes.add(t);
            t.start();
        }
    }

    int lanes() {
        return lanes.size();
    }

    /** Queues work for {@code owner} (a request or job, compared by identity) of {@code client}. */
    void submit(String client, Object owner, List<? extends Work> work) {
        if (work.isEmpty()) return;
        synchronized (lock) {
            if (stopping) throw new IllegalStateException("the server is stopping");
            Owner o = owners.get(owner);
            if (o == null) {
                o = new Owner(owner, client);
                owners.put(owner, o);
                ArrayDeque<Owner> of = byClient.get(client);
                if (of == null) {
                    of = new ArrayDeque<>();
                    byClient.put(client, of);
                    ring.addLast(client);
                }
                of.addLast(o);
            }
            o.queue.addAll(work);
            queued += work.size();
            lock.notifyAll();
        }
    }

    /** Drops the queued work of {@code owner} (what a lane is already scoring finishes); returns how much. */
    int cancel(Object owner) {
        synchronized (lock) {
            Owner o = owners.remove(owner);
            if (o == null) return 0;
            int n = o.queue.size();
            queued -= n;
            ArrayDeque<Owner> of = byClient.get(o.client);
            of.remove(o);
            if (of.isEmpty()) {
                byClient.remove(o.client);
                ring.remove(o.client);
            }
            return n;
        }
    }

    /** Architectures queued, not yet taken by a lane. */
    int queued() {
        synchronized (lock) {
            return queued;
        }
    }

    /** Architectures being scored now. */
    int running() {
        synchronized (lock) {
            return running;
        }
    }

    /** Architectures scored so far. */
    long scored() {
        synchronized (lock) {
            return scored;
        }
    }

    /** Their seconds, summed. */
    double scoredSeconds() {
        synchronized (lock) {
            return scoredSeconds;
        }
    }

    /** The next work in fair order; null once stopping. */
    private Work take() throws InterruptedException {
        synchronized (lock) {
            while (!stopping && ring.isEmpty()) lock.wait();
            if (stopping) return null;
            String client = ring.pollFirst();
            ArrayDeque<Owner> of = byClient.get(client);
            Owner o = of.pollFirst();
            Work w = o.queue.pollFirst();
            queued--;
            if (o.queue.isEmpty()) owners.remove(o.key);
            else of.addLast(o);
            if (of.isEmpty()) byClient.remove(client);
            else ring.addLast(client);
            running++;
            return w;
        }
    }

    /** One lane: its engines (per space and network size) and its copies of the input batches. */
    private final class Lane {
        final Backend backend;
        final Map<String, Engine> engines = new HashMap<>();
        final Map<Batch, Batch> copies = new IdentityHashMap<>();
        final io.wrcor.tensor.TensorPool pool = new io.wrcor.tensor.TensorPool(); // for networks of their own (ONNX)
        Scorer scorer; // made on the first such network
        Arena arena; // the lane thread's own

        Lane(Backend backend) {
            this.backend = backend;
        }

        void loop() {
            arena = Arena.ofConfined();
            try {
                backend.attachThread();
                for (Work w; (w = take()) != null; ) {
                    long t0 = System.nanoTime();
                    Scorer.Result r = null;
                    RuntimeException error = null;
                    try {
                        Settings s = w.settings();
                        if (s == null) {
                            if (scorer == null) scorer = new Scorer(backend, pool);
                            r = w.scoreOn(null, scorer, null); // the scorer gives its scratch back to the pool itself
                        } else {
                            Engine e = engines.computeIfAbsent(s.engineKey(), k -> new Engine(backend, s.space(), s.net()));
                            r = w.scoreOn(e, null, batchFor(s.batch()));
                        }
                    } catch (RuntimeException e) {
                        error = e;
                    } catch (OutOfMemoryError e) {
                        error = new IllegalStateException("out of memory scoring " + w.describe() + ": " + e.getMessage(), e);
                    }
                    double seconds = (System.nanoTime() - t0) / 1e9;
                    synchronized (lock) {
                        running--;
                        if (error == null) {
                            scored++;
                            scoredSeconds += seconds;
                        }
                        lock.notifyAll();
                    }
                    try {
                        if (error == null) w.done(r, seconds);
                        else w.failed(error);
                    } catch (RuntimeException e) {
                        // a sink's own failure must not stop the lane
                        System.err.println("wrcor: serve: handing over " + w.describe() + " failed: " + e);
                    }
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                for (Engine e : engines.values()) e.close();
                pool.close();
                arena.close();
            }
        }

        /** Lane 0 reads the server's batch; the others a copy of their own (a device copy follows its tensor). */
        Batch batchFor(Batch b) {
            if (backend == laneBackends.getFirst()) return b;
            return copies.computeIfAbsent(b, x -> {
                Tensor t = Tensor.allocate(arena, x.input().dtype(), x.input().shape());
                t.hostSegment().copyFrom(x.input().read());
                return new Batch(t, x.labels().clone());
            });
        }
    }

    /**
     * Stops handing out work: what is queued fails with "the server is stopping" (its requests are
     * answered 503), the lanes finish what they are scoring (waiting up to {@code seconds}).
     */
    void stop(double seconds) {
        List<Work> left = new ArrayList<>();
        synchronized (lock) {
            stopping = true;
            for (Owner o : owners.values()) left.addAll(o.queue);
            owners.clear();
            byClient.clear();
            ring.clear();
            queued = 0;
            lock.notifyAll();
        }
        for (Work w : left) {
            try {
                w.failed(new StoppingException());
            } catch (RuntimeException e) {
                System.err.println("wrcor: serve: " + e);
            }
        }
        long until = System.nanoTime() + (long) (seconds * 1e9);
        for (Thread t : lanes) {
            try {
                t.join(Math.max(1, (until - System.nanoTime()) / 1_000_000));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    @Override
    public void close() {
        stop(60);
        closeLanes();
    }

    private void closeLanes() {
        for (int i = laneBackends.size() - 1; i >= deviceCount; i--) {
            if (laneBackends.get(i) instanceof AutoCloseable c) {
                try {
                    c.close();
                } catch (Exception ignored) {
                    // nothing left to release
                }
            }
        }
    }
}
