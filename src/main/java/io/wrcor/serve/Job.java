package io.wrcor.serve;

import io.wrcor.eval.GroundTruth;
import io.wrcor.eval.RankCorrelation;
import io.wrcor.proxy.Proxy;
import io.wrcor.proxy.Scorer;
import io.wrcor.results.ResultsFile;
import io.wrcor.search.Objective;
import io.wrcor.search.Search;
import io.wrcor.space.Arch;
import io.wrcor.util.Json;
import io.wrcor.vote.Vote;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * A long scoring, correlate or search run of the server. Its architectures go through the
 * {@link Scheduler} like any request's; its scores are appended to its results file
 * ({@link Store}) as each is computed, so a restarted server resumes it and recomputes nothing
 * stored. Its rows (in the order they became known) are kept for {@code GET /v1/jobs/{id}/results}.
 *
 * <p>States: queued, running, then done, failed or cancelled; a job the server stopped in is
 * {@code interrupted} on disk and resumed on the next start.
 */
final class Job {
    enum State {
        QUEUED, RUNNING, DONE, FAILED, CANCELLED, INTERRUPTED;

        String label() {
            return name().toLowerCase();
        }

        boolean over() {
            return this == DONE || this == FAILED || this == CANCELLED;
        }
    }

    /** What a job does, parsed and checked before it is accepted. */
    record Spec(String kind, Settings settings, List<Proxy> proxies, List<Arch> archs, GroundTruth gt, int sample, Search search, String algo,
                Vote objective, int evaluations) {}

    /** Thrown inside the runner when the job is cancelled or the server stops. */
    private static final class Stopped extends RuntimeException {
        Stopped() {
            super(null, null, false, false);
        }
    }

    final String id, client, created, request, kind;
    final Spec spec; // null for a job that finished before this server started
    final Store store;
    private final Object lock = new Object();
    private final List<String> rows = new ArrayList<>();
    private State state = State.QUEUED;
    private String error;
    private String result; // a JSON object: the correlations, or the search's find
    private final int total;
    private int done, reused, computed;
    private long startedNanos;
    private boolean stopping;
    private int pending; // this job's architectures queued or being scored
    private final Runnable persist;

    Job(String id, String client, String created, String request, Spec spec, Store store, Runnable persist) {
        this(id, client, created, request, spec.kind(),
                spec.kind().equals("search") ? spec.evaluations() : spec.kind().equals("correlate") ? spec.sample() : spec.archs().size(),
                spec, store, persist);
    }

    /** A job that finished before this server started, as its job file tells it (nothing is parsed or opened again). */
    Job(String id, String client, String created, String request, String kind, int total, Store store, State state, String error, String result,
        int done) {
        this(id, client, created, request, kind, total, null, store, () -> { }); // it does not change any more
        this.state = state;
        this.error = error;
        this.result = result;
        this.done = done;
    }

    private Job(String id, String client, String created, String request, String kind, int total, Spec spec, Store store, Runnable persist) {
        this.id = id;
        this.client = client;
        this.created = created;
        this.request = request;
        this.kind = kind;
        this.total = total;
        this.spec = spec;
        this.store = store;
        this.persist = persist;
    }

    State state() {
        synchronized (lock) {
            return state;
        }
    }

    /** Runs the job to its end on the calling thread; the scheduler scores its architectures. */
    void run(Scheduler scheduler) {
        synchronized (lock) {
            if (state.over()) return;
            state = State.RUNNING;
            startedNanos = System.nanoTime();
        }
        persist.run();
        try {
            String res = switch (spec.kind()) {
                case "score" -> {
                    scoreAll(scheduler, spec.archs().stream().map(Arch::toString).toList());
                    yield null;
                }
                case "correlate" -> correlate(scheduler);
                case "search" -> search(scheduler);
                default -> throw new IllegalStateException("unknown job kind " + spec.kind());
            };
            finish(State.DONE, null, res);
        } catch (Stopped e) {
            drain();
            synchronized (lock) {
                if (state == State.CANCELLED) return;
                state = State.INTERRUPTED;
            }
            persist.run();
        } catch (RuntimeException e) {
            dropped(scheduler.cancel(this));
            drain();
            finish(State.FAILED, e.getMessage() == null ? e.toString() : e.getMessage(), null);
        }
    }

    private void finish(State s, String err, String res) {
        synchronized (lock) {
            if (state == State.CANCELLED || state == State.INTERRUPTED) return;
            state = s;
            error = err;
            result = res;
            lock.notifyAll();
        }
        persist.run();
    }

    /** Cancels: queued architectures are dropped, the one being scored finishes and is kept. */
    boolean cancel(Scheduler scheduler) {
        synchronized (lock) {
            if (state.over()) return false;
            state = State.CANCELLED;
            lock.notifyAll();
        }
        dropped(scheduler.cancel(this));
        persist.run();
        return true;
    }

    /** {@code n} of this job's queued architectures were dropped from the scheduler: they will not report back. */
    void dropped(int n) {
        synchronized (lock) {
            pending -= n;
            lock.notifyAll();
        }
    }

    /**
     * Waits (up to 10 minutes) until the architectures a lane is scoring for this job have reported
     * back, so their scores are stored before the job lets its results file go.
     */
    private void drain() {
        synchronized (lock) {
            long until = System.currentTimeMillis() + 600_000;
            try {
                while (pending > 0 && System.currentTimeMillis() < until) lock.wait(200);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** The server stops: the job stays resumable (its state on disk says interrupted). */
    void stop() {
        synchronized (lock) {
            stopping = true;
            lock.notifyAll();
        }
    }

    private void checkGoing() {
        if (stopping || state == State.CANCELLED || state == State.FAILED) throw new Stopped();
    }

    /** Scores every architecture not stored yet (all at once through the scheduler), rows in the order they become known. */
    private void scoreAll(Scheduler scheduler, List<String> archs) {
        List<Scheduler.Work> work = new ArrayList<>();
        RuntimeException[] failure = new RuntimeException[1];
        for (String a : archs) {
            ResultsFile.Row known = store.cached(a, spec.proxies());
            if (known != null) {
                synchronized (lock) {
                    reused++;
                    done++;
                    rows.add(known.toJson());
                    lock.notifyAll();
                }
                continue;
            }
            Arch parsed = spec.settings().space().parse(a);
            work.add(new ArchWork(parsed, failure, true));
        }
        runAll(scheduler, work, failure);
    }

    /** Queues this job's work and waits until every piece has reported back; the first failure is thrown. */
    private void runAll(Scheduler scheduler, List<Scheduler.Work> work, RuntimeException[] failure) {
        synchronized (lock) {
            checkGoing();
            pending += work.size();
        }
        scheduler.submit(client, this, work);
        synchronized (lock) {
            try {
                while (pending > 0 && failure[0] == null) {
                    checkGoing();
                    lock.wait(1000);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new Stopped();
            }
            if (failure[0] != null) throw failure[0];
            checkGoing();
        }
    }

    /** One architecture of this job in the scheduler. */
    private final class ArchWork implements Scheduler.Work {
        final Arch arch;
        final RuntimeException[] failure;
        final boolean step; // the architecture is a step of the job's progress, with a row of its own (a search counts its steps itself)

        ArchWork(Arch arch, RuntimeException[] failure, boolean step) {
            this.arch = arch;
            this.failure = failure;
            this.step = step;
        }

        @Override
        public Settings settings() {
            return spec.settings();
        }

        @Override
        public Arch arch() {
            return arch;
        }

        @Override
        public List<Proxy> proxies() {
            return spec.proxies();
        }

        @Override
        public void done(Scorer.Result r, double seconds) {
            ResultsFile.Row row = store.put(arch, r, seconds, spec.proxies());
            synchronized (lock) {
                computed++;
                pending--;
                if (step) {
                    done++;
                    rows.add(row.toJson());
                }
                lock.notifyAll();
            }
        }

        @Override
        public void failed(RuntimeException e) {
            synchronized (lock) {
                pending--;
                if (e instanceof Scheduler.StoppingException) stopping = true; // the job stays resumable
                else if (failure[0] == null) failure[0] = new IllegalArgumentException("scoring " + arch + ": " + e.getMessage(), e);
                lock.notifyAll();
            }
        }
    }

    /** Rank correlations of every proxy with each dataset's accuracy over the sampled rows of the table. */
    private String correlate(Scheduler scheduler) {
        GroundTruth gt = spec.gt();
        int[] picked = GroundTruth.pick(gt.size(), spec.sample(), spec.settings().seed());
        List<String> archs = new ArrayList<>();
        for (int i : picked) archs.add(gt.arch(i));
        scoreAll(scheduler, archs);
        StringBuilder sb = new StringBuilder("{\"architectures\": ").append(picked.length).append(", \"correlations\": {");
        for (int p = 0; p < spec.proxies().size(); p++) {
            Proxy proxy = spec.proxies().get(p);
            double[] s = new double[picked.length];
            for (int i = 0; i < picked.length; i++) s[i] = store.cached(archs.get(i), spec.proxies()).scores().get(proxy.label);
            sb.append(p == 0 ? "" : ", ").append(Json.quote(proxy.label)).append(": {");
            for (int d = 0; d < gt.datasets().size(); d++) {
                double[] acc = new double[picked.length];
                for (int i = 0; i < picked.length; i++) acc[i] = gt.accuracy(d, picked[i]);
                sb.append(d == 0 ? "" : ", ").append(Json.quote(gt.datasets().get(d))).append(": {\"spearman\": ")
                        .append(Json.number(RankCorrelation.spearman(s, acc))).append(", \"kendall_tau_b\": ")
                        .append(Json.number(RankCorrelation.kendallTauB(s, acc))).append('}');
            }
            sb.append('}');
        }
        return sb.append("}}").toString();
    }

    /** The search, one evaluation at a time through the scheduler (each waits for the one before); a row per step. */
    private String search(Scheduler scheduler) {
        Vote vote = spec.objective();
        java.util.function.Function<Arch, double[]> members = arch -> {
            String a = arch.toString();
            ResultsFile.Row known = store.cached(a, spec.proxies());
            if (known == null) {
                RuntimeException[] failure = new RuntimeException[1];
                runAll(scheduler, List.of(new ArchWork(arch, failure, false)), failure);
                known = store.cached(a, spec.proxies());
            } else {
                synchronized (lock) {
                    reused++;
                }
            }
            return vote.signed(known.scores());
        };
        // a soft ensemble is calibrated on the same reference sample as the CLI's search
        List<Arch> reference = vote.softRule() == null ? List.of()
                : io.wrcor.search.Calibrated.referenceSample(spec.settings().space(), spec.settings().seed(), 100);
        Objective objective = Objective.of(vote, members, reference);
        Arch best = spec.search().run(spec.settings().space(), objective, spec.evaluations(), new SplittableRandom(spec.settings().seed()),
                (step, arch, scores, bestSoFar) -> {
                    String row = "{\"step\": " + step + ", \"arch\": " + Json.quote(arch.toString()) + ", \"scores\": "
                            + scoresJson(store.cached(arch.toString(), spec.proxies()).scores()) + ", \"best\": " + Json.quote(bestSoFar.toString()) + "}";
                    synchronized (lock) {
                        done++;
                        rows.add(row);
                        lock.notifyAll();
                    }
                });
        StringBuilder sb = new StringBuilder("{\"found\": ").append(Json.quote(best.toString())).append(", \"algo\": ").append(Json.quote(spec.algo()))
                .append(", \"evaluations\": ").append(spec.evaluations()).append(", \"scores\": ")
                .append(scoresJson(store.cached(best.toString(), spec.proxies()).scores()));
        int row = spec.gt() == null ? -1 : spec.gt().find(best.toString());
        if (row >= 0) sb.append(", ").append(spec.gt().accuracyAndRankJson(row));
        return sb.append('}').toString();
    }

    private static String scoresJson(Map<String, Double> scores) {
        List<String> parts = new ArrayList<>();
        for (var e : scores.entrySet()) parts.add(Json.quote(e.getKey()) + ": " + Json.number(e.getValue()));
        return "{" + String.join(", ", parts) + "}";
    }

    /** Rows from index {@code from} on, waiting up to {@code waitMillis} for one when there is none yet and the job goes on. */
    List<String> rows(int from, long waitMillis) throws InterruptedException {
        synchronized (lock) {
            long until = System.currentTimeMillis() + waitMillis;
            while (rows.size() <= from && !state.over() && state != State.INTERRUPTED && !stopping) {
                long left = until - System.currentTimeMillis();
                if (left <= 0) break;
                lock.wait(left);
            }
            return from >= rows.size() ? List.of() : List.copyOf(rows.subList(from, rows.size()));
        }
    }

    /** Whether no more rows will come (finished, or the server stops). */
    boolean settled() {
        synchronized (lock) {
            return state.over() || state == State.INTERRUPTED || stopping;
        }
    }

    /** The status: state, progress, ETA (from the seconds per computed architecture so far), and the result when done. */
    String statusJson() {
        synchronized (lock) {
            StringBuilder sb = new StringBuilder("{\"id\": ").append(Json.quote(id)).append(", \"kind\": ").append(Json.quote(kind))
                    .append(", \"client\": ").append(Json.quote(client)).append(", \"created\": ").append(Json.quote(created))
                    .append(", \"state\": ").append(Json.quote(state.label())).append(", \"total\": ").append(total).append(", \"done\": ").append(done)
                    .append(", \"reused\": ").append(reused).append(", \"computed\": ").append(computed)
                    .append(", \"progress\": ").append(total == 0 ? "1.0" : String.format("%.4f", done / (double) total));
            double elapsed = startedNanos == 0 || state.over() ? 0 : (System.nanoTime() - startedNanos) / 1e9;
            if (state == State.RUNNING && computed > 0) {
                double perArch = elapsed / computed;
                sb.append(", \"seconds_per_architecture\": ").append(String.format("%.4f", perArch)).append(", \"eta_seconds\": ")
                        .append(String.format("%.1f", perArch * Math.max(0, total - done)));
            } else if (state == State.RUNNING || state == State.QUEUED) {
                sb.append(", \"eta_seconds\": null");
            }
            sb.append(", \"results_file\": ").append(Json.quote(store.name()));
            if (error != null) sb.append(", \"error\": ").append(Json.quote(error));
            if (result != null) sb.append(", \"result\": ").append(result);
            return sb.append('}').toString();
        }
    }

    /** What the job file stores: the request, what a listing shows of it, and for a finished job its outcome. */
    String fileJson() {
        synchronized (lock) {
            StringBuilder sb = new StringBuilder("{\"id\": ").append(Json.quote(id)).append(", \"client\": ").append(Json.quote(client))
                    .append(", \"created\": ").append(Json.quote(created)).append(", \"kind\": ").append(Json.quote(kind))
                    .append(", \"state\": ").append(Json.quote(state.label())).append(", \"total\": ").append(total)
                    .append(", \"done\": ").append(done).append(", \"results_file\": ").append(Json.quote(store.name()));
            if (error != null) sb.append(", \"error\": ").append(Json.quote(error));
            if (result != null) sb.append(", \"result\": ").append(result);
            return sb.append(", \"request\": ").append(request).append("}\n").toString();
        }
    }
}
