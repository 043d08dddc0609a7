package io.wrcor.search;

import io.wrcor.space.Arch;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Several searches side by side, each on a thread of its own, that get scores only through this
 * class. Whenever every search still running waits for scores, the architectures they asked for
 * (in run order, each once) are scored together by one call of {@link Batch} on the caller's thread,
 * where they can be spread over lanes or executors; each search's events are handed to the caller's
 * thread too, in run order, before the next batch. A search draws what it would draw alone and
 * gets the same scores, so its trajectory and answer do not depend on what runs beside it, and the
 * caller's files are written in the same order every time.
 */
public final class Lockstep {
    private Lockstep() {
    }

    /** Scores architectures: the members' signed scores of each one asked for. Called on the caller's thread. */
    public interface Batch {
        Map<Arch, double[]> score(List<Arch> archs);
    }

    /** What one search sees: its scores, a way to ask for several at once, and its listener. */
    public interface Lane {
        /** The members' signed scores of an architecture (waits for the next batch unless this run has them). */
        double[] members(Arch arch);

        /** Asks for the scores of these architectures together (nothing when this run has them all). */
        void prefetch(List<? extends Arch> archs);

        /** The run's listener: its events reach {@link Events} on the caller's thread, in order. */
        Search.Listener listener();
    }

    /** One search, run on its own thread. */
    public interface Body {
        Arch run(int run, Lane lane);
    }

    /** A search's evaluation, on the caller's thread: the step, the architecture, its members' signed scores, the best so far. */
    public interface Events {
        void evaluated(int run, int step, Arch arch, double[] members, Arch best);
    }

    private record Event(int step, Arch arch, double[] members, Arch best) {}

    /** A failure that ends every run: thrown in the search threads still waiting. */
    private static final class Aborted extends RuntimeException {
        Aborted() {
            super("another run failed", null, false, false);
        }
    }

    /**
     * Runs {@code runs} searches side by side and returns each one's answer. A failure of one search
     * or of a batch stops them all and is thrown here (the first in run order).
     */
    public static Arch[] run(int runs, Body body, Batch batch, Events events) {
        State s = new State(runs);
        Thread[] threads = new Thread[runs];
        for (int r = 0; r < runs; r++) {
            final int run = r;
            threads[r] = Thread.ofPlatform().daemon().name("wrcor-search-run-" + (r + 1)).unstarted(() -> s.runBody(run, body));
        }
        for (Thread t : threads) t.start();
        try {
            s.coordinate(batch, events);
        } finally {
            s.abort();
            for (Thread t : threads) {
                try {
                    t.join();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
        }
        return s.answers;
    }

    private static final class State {
        private final ReentrantLock lock = new ReentrantLock();
        private final Condition changed = lock.newCondition();   // a run asked, finished or failed
        private final Condition answered = lock.newCondition();  // a batch was answered, or everything aborted
        private final int runs;
        private final List<Arch>[] asked;
        private final Map<Arch, double[]>[] answer;
        private final List<Event>[] pending;
        private final Map<Arch, double[]>[] known; // per run, touched only by its thread
        private final Arch[] answers;
        private final Throwable[] failures;
        private int waiting, finished;
        private boolean aborted;

        @SuppressWarnings("unchecked")
        State(int runs) {
            this.runs = runs;
            asked = new List[runs];
            answer = new Map[runs];
            pending = new List[runs];
            known = new Map[runs];
            answers = new Arch[runs];
            failures = new Throwable[runs];
            for (int r = 0; r < runs; r++) {
                pending[r] = new ArrayList<>();
                known[r] = new HashMap<>();
            }
        }

        void runBody(int run, Body body) {
            Lane lane = new Lane() {
                @Override
                public double[] members(Arch arch) {
                    double[] m = known[run].get(arch);
                    if (m == null) {
                        ask(run, List.of(arch));
                        m = known[run].get(arch);
                    }
                    return m;
                }

                @Override
                public void prefetch(List<? extends Arch> archs) {
                    List<Arch> missing = new ArrayList<>(new LinkedHashSet<>(archs));
                    missing.removeIf(known[run]::containsKey);
                    if (!missing.isEmpty()) ask(run, missing);
                }

                @Override
                public Search.Listener listener() {
                    return (step, arch, scores, best) -> {
                        double[] m = members(arch);
                        lock.lock();
                        try {
                            pending[run].add(new Event(step, arch, m, best));
                        } finally {
                            lock.unlock();
                        }
                    };
                }
            };
            Arch result = null;
            Throwable failure = null;
            try {
                result = body.run(run, lane);
            } catch (Aborted e) {
                // another run or a batch failed: that failure is the one reported
            } catch (Throwable t) {
                failure = t;
            }
            lock.lock();
            try {
                answers[run] = result;
                failures[run] = failure;
                finished++;
                changed.signalAll();
            } finally {
                lock.unlock();
            }
        }

        private void ask(int run, List<Arch> archs) {
            Map<Arch, double[]> got;
            lock.lock();
            try {
                if (aborted) throw new Aborted();
                asked[run] = archs;
                waiting++;
                changed.signalAll();
                while (answer[run] == null && !aborted) answered.awaitUninterruptibly();
                if (answer[run] == null) throw new Aborted();
                got = answer[run];
                answer[run] = null;
            } finally {
                lock.unlock();
            }
            known[run].putAll(got);
            for (Arch a : archs) {
                if (!got.containsKey(a)) throw new IllegalStateException("no scores came back for " + a);
            }
        }

        void coordinate(Batch batch, Events events) {
            while (true) {
                List<Arch> union;
                List<List<Event>> drained = new ArrayList<>();
                List<Arch>[] requests;
                boolean done;
                lock.lock();
                try {
                    while (waiting + finished < runs) changed.awaitUninterruptibly();
                    for (int r = 0; r < runs; r++) {
                        drained.add(pending[r]);
                        pending[r] = new ArrayList<>();
                    }
                    for (Throwable f : failures) {
                        if (f != null) {
                            if (f instanceof RuntimeException re) throw re;
                            if (f instanceof Error e) throw e;
                            throw new IllegalStateException(f);
                        }
                    }
                    done = finished == runs;
                    requests = asked.clone();
                    LinkedHashSet<Arch> all = new LinkedHashSet<>();
                    for (List<Arch> q : requests) if (q != null) all.addAll(q);
                    union = new ArrayList<>(all);
                } finally {
                    lock.unlock();
                }
                // every search waits or is done: their events, in run order, before anything new is scored
                for (int r = 0; r < runs; r++) for (Event e : drained.get(r)) events.evaluated(r, e.step(), e.arch(), e.members(), e.best());
                if (done) return;
                Map<Arch, double[]> scored = batch.score(union);
                lock.lock();
                try {
                    for (int r = 0; r < runs; r++) {
                        if (requests[r] == null) continue;
                        Map<Arch, double[]> mine = new HashMap<>();
                        for (Arch a : requests[r]) if (scored.containsKey(a)) mine.put(a, scored.get(a));
                        answer[r] = mine;
                        asked[r] = null;
                    }
                    waiting = 0;
                    answered.signalAll();
                } finally {
                    lock.unlock();
                }
            }
        }

        void abort() {
            lock.lock();
            try {
                aborted = true;
                answered.signalAll();
            } finally {
                lock.unlock();
            }
        }
    }
}
