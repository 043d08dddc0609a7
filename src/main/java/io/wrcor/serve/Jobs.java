package io.wrcor.serve;

import io.wrcor.util.Json;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * The server's jobs, kept in its data directory: {@code jobs/<id>/job.json} (the request and the
 * state, rewritten atomically at each change) and the results file each writes
 * ({@code jobs/<id>/scores.jsonl}, or the request's {@code out}). On start every job that had not
 * finished is resumed; what its results file holds is not computed again.
 */
final class Jobs implements AutoCloseable {
    /** Parses a job request (on create and on resume); a bad one is an {@link Server.HttpError}. */
    interface Parser {
        Job.Spec parse(Map<String, Object> request);
    }

    /** The results file a job request names ({@code out}, relative to the data directory), or null for the default. */
    interface OutOf {
        Path out(Map<String, Object> request);
    }

    private final Path dataDir, jobsDir;
    private final Scheduler scheduler;
    private final Parser parser;
    private final OutOf outOf;
    private final int maxActive;
    private final Map<String, Job> jobs = new LinkedHashMap<>();
    private final Map<Path, Store> stores = new HashMap<>();
    private final List<Thread> runners = new ArrayList<>();
    private boolean closing;
    private int resumed;

    Jobs(Path dataDir, Scheduler scheduler, Parser parser, OutOf outOf, int maxActive) {
        this.dataDir = dataDir;
        this.jobsDir = dataDir.resolve("jobs");
        this.scheduler = scheduler;
        this.parser = parser;
        this.outOf = outOf;
        this.maxActive = maxActive;
        try {
            Files.createDirectories(jobsDir);
        } catch (IOException e) {
            throw new IllegalArgumentException("data directory " + dataDir + ": cannot create " + jobsDir + ": " + io.wrcor.util.Files2.reason(e));
        }
        load();
    }

    /** Reads every job file; resumes the unfinished ones, in the order they were created. */
    private void load() {
        List<Path> files;
        try (Stream<Path> s = Files.list(jobsDir)) {
            files = s.map(d -> d.resolve("job.json")).filter(Files::isRegularFile).toList();
        } catch (IOException e) {
            throw new IllegalArgumentException("data directory " + dataDir + ": cannot list " + jobsDir + ": " + io.wrcor.util.Files2.reason(e));
        }
        List<Map<String, Object>> found = new ArrayList<>();
        for (Path f : files) {
            String folder = f.getParent().getFileName().toString();
            try {
                Map<String, Object> m = Json.parseObject(io.wrcor.util.Files2.readText("job file", f, MAX_JOB_FILE_BYTES));
                if (!folder.equals(m.get("id"))) throw new IllegalArgumentException("its id is not its folder's name");
                found.add(m);
            } catch (RuntimeException e) {
                // listed as failed with the reason, so that the API still answers for it
                String why = "job file " + dataDir.relativize(f) + " cannot be read: " + oneLine(e.getMessage());
                System.err.println("wrcor: serve: " + why);
                Map<String, Object> m = new java.util.LinkedHashMap<>();
                m.put("id", folder);
                m.put("state", "failed");
                m.put("error", why);
                found.add(m);
            }
        }
        found.sort((a, b) -> String.valueOf(a.get("created")).compareTo(String.valueOf(b.get("created"))));
        for (Map<String, Object> m : found) {
            String id = String.valueOf(m.get("id"));
            Job.State state;
            try {
                state = Job.State.valueOf(String.valueOf(m.get("state")).toUpperCase());
            } catch (IllegalArgumentException e) {
                state = Job.State.INTERRUPTED;
            }
            String requestText = Json.write(m.get("request")); // as written, so a resumed job parses exactly what was asked
            if (state.over()) {
                // listed as its file says: its request is not parsed again, its results file not opened
                jobs.put(id, failedOr(m, state, m.get("error") instanceof String err ? err : null, requestText));
                continue;
            }
            @SuppressWarnings("unchecked")
            Map<String, Object> request = m.get("request") instanceof Map<?, ?> r ? (Map<String, Object>) r : Map.of();
            Job job;
            try {
                job = make(id, String.valueOf(m.get("client")), String.valueOf(m.get("created")), requestText, request, parser.parse(request));
            } catch (RuntimeException e) {
                // the request no longer parses here (a data file removed, say) or its results file cannot be
                // opened (a garbage line): listed as failed, with the reason; its file is left as it is, so
                // that a later start resumes it once the cause is mended
                String why = "cannot be resumed: " + oneLine(e.getMessage());
                System.err.println("wrcor: serve: job " + id + " " + why);
                jobs.put(id, failedOr(m, Job.State.FAILED, why, requestText));
                continue;
            }
            jobs.put(id, job);
            resumed++;
            start(job);
        }
    }

    /** The largest job file read at start-up. */
    static final long MAX_JOB_FILE_BYTES = 16L << 20;

    private static String oneLine(String message) {
        return message == null ? "unknown reason" : Json.clip(message.lines().findFirst().orElse(""), 400);
    }

    /** A job that is over, as its file tells it (missing fields read as empty), in {@code state} with {@code error}. */
    private static Job failedOr(Map<String, Object> m, Job.State state, String error, String requestText) {
        return new Job(String.valueOf(m.get("id")), String.valueOf(m.get("client")), String.valueOf(m.get("created")), requestText,
                m.get("kind") instanceof String kind ? kind : "unknown", m.get("total") instanceof Number total ? total.intValue() : 0,
                Store.closed(m.get("results_file") instanceof String file ? file : ""), state, error,
                m.get("result") == null ? null : Json.write(m.get("result")), m.get("done") instanceof Number n ? n.intValue() : 0);
    }

    int resumed() {
        return resumed;
    }

    /** A new job from a checked request; {@link Server.HttpError} 429 when too many are unfinished. */
    Job create(String client, String requestText, Map<String, Object> request) {
        Job.Spec spec = parser.parse(request); // 4xx before anything is written
        synchronized (this) {
            if (closing) throw new Server.HttpError(503, "the server is stopping");
            long active = jobs.values().stream().filter(j -> !j.state().over()).count();
            if (active >= maxActive) throw new Server.HttpError(429, "there are " + active + " unfinished jobs, the limit; retry later or cancel one");
            String id;
            do {
                id = Instant.now().truncatedTo(ChronoUnit.SECONDS).toString().replaceAll("[-:TZ]", "").substring(0, 14) + "-"
                        + String.format("%06x", java.util.concurrent.ThreadLocalRandom.current().nextInt(1 << 24));
            } while (jobs.containsKey(id) || Files.exists(jobsDir.resolve(id)));
            Job job = make(id, client, Instant.now().toString(), requestText, request, spec);
            jobs.put(id, job);
            try {
                write(job);
            } catch (RuntimeException e) {
                jobs.remove(id);
                release(job.store);
                throw e;
            }
            start(job);
            return job;
        }
    }

    /** A job to run, with its results file open. */
    private synchronized Job make(String id, String client, String created, String requestText, Map<String, Object> request, Job.Spec spec) {
        Path out = outOf.out(request);
        if (out == null) out = jobsDir.resolve(id).resolve("scores.jsonl");
        Store store = acquire(out, spec.settings());
        Job[] self = new Job[1];
        self[0] = new Job(id, client, created, requestText, spec, store, () -> write(self[0]));
        return self[0];
    }

    /** The open store of a results file, shared by jobs of the same settings; 409 when other settings hold it. */
    private Store acquire(Path out, Settings settings) {
        Path key = out.toAbsolutePath().normalize();
        Store s = stores.get(key);
        if (s != null && !s.run.equals(settings.run())) {
            throw new Server.HttpError(409, "results file " + s.name + " is being written by a job with other settings (network, seed, batch"
                    + " or data); give another out, or wait for that job");
        }
        if (s == null) {
            try {
                s = new Store(out, dataDir.relativize(key).toString(), settings.run(), settings.space());
            } catch (IllegalArgumentException e) {
                throw new Server.HttpError(409, e.getMessage().replace(dataDir.toString() + "/", ""));
            }
            stores.put(key, s);
        }
        s.users++;
        return s;
    }

    private synchronized void release(Store s) {
        if (--s.users > 0) return;
        stores.values().remove(s);
        s.close();
    }

    private void start(Job job) {
        Thread t = Thread.ofVirtual().name("wrcor-job-" + job.id).unstarted(() -> {
            try {
                job.run(scheduler);
            } finally {
                if (job.state().over()) release(job.store);
            }
        });
        synchronized (this) {
            runners.add(t);
        }
        t.start();
    }

    /** Writes the job file atomically (a crash leaves the old one or the new one, never half). */
    private void write(Job job) {
        Path dir = jobsDir.resolve(job.id), file = dir.resolve("job.json"), tmp = dir.resolve("job.json.tmp");
        try {
            Files.createDirectories(dir);
            Files.writeString(tmp, job.fileJson(), StandardCharsets.UTF_8);
            try {
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            throw new IllegalStateException("cannot write job file " + dataDir.relativize(file) + ": " + io.wrcor.util.Files2.reason(e), e);
        }
    }

    synchronized Job get(String id) {
        return jobs.get(id);
    }

    synchronized List<Job> all() {
        return List.copyOf(jobs.values());
    }

    /** Jobs per state, for metrics. */
    synchronized Map<String, Integer> counts() {
        Map<String, Integer> c = new java.util.TreeMap<>();
        for (Job.State s : Job.State.values()) c.put(s.label(), 0);
        for (Job j : jobs.values()) c.merge(j.state().label(), 1, Integer::sum);
        return c;
    }

    /**
     * Stops every running job where it is (each stays resumable: its job file says interrupted),
     * dropping their queued architectures and waiting (up to a minute each) for their runners, which wait for
     * the architectures being scored to be stored.
     */
    void stop() {
        List<Thread> ts;
        synchronized (this) {
            closing = true;
            for (Job j : jobs.values()) {
                j.stop();
                j.dropped(scheduler.cancel(j));
            }
            ts = List.copyOf(runners);
        }
        for (Thread t : ts) {
            try {
                t.join(60_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
    }

    /** Closes the results files (after the lanes have stored what they were scoring). */
    @Override
    public void close() {
        synchronized (this) {
            for (Store s : stores.values()) s.close();
            stores.clear();
        }
    }
}
