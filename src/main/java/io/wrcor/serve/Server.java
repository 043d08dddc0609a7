package io.wrcor.serve;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.wrcor.Engine;
import io.wrcor.backend.Backend;
import io.wrcor.data.Batch;
import io.wrcor.proxy.Proxy;
import io.wrcor.proxy.Scorer;
import io.wrcor.results.ResultsFile;
import io.wrcor.results.RunKey;
import io.wrcor.space.Arch;
import io.wrcor.space.NetSize;
import io.wrcor.space.SearchSpace;
import io.wrcor.space.SearchSpaces;
import io.wrcor.util.Json;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;

/**
 * {@code wrcor serve}: the engine as an HTTP/JSON service, so that one warm process (JIT, scratch
 * pools, device programs) scores for many clients. Built on the JDK's own HTTP server
 * ({@code jdk.httpserver}): maintained with the JDK, no dependency to vet or ship, and in the jlink
 * runtime the GPU bundle already carries.
 *
 * <p>Routes (version prefix {@code /v1}): {@link #ROUTES}, described by the OpenAPI document it serves. Every
 * answer is JSON; every error is a 4xx with {@code {"error": "..."}} naming the problem. All scoring
 * runs on one engine thread in arrival order (the backend is driven by one thread); a full queue
 * answers 429. With a token, every request must carry {@code Authorization: Bearer TOKEN} (401).
 */
public final class Server implements AutoCloseable {
    /**
     * Limits on what one request may ask: body bytes, architectures per score request, score
     * requests waiting for the engine (then 429), input batch size, unfinished jobs (then 429),
     * architectures per job.
     */
    public record Limits(int maxBodyBytes, int maxArchs, int maxQueue, int maxBatch, int maxJobs, int maxJobArchs) {
        public static final Limits DEFAULT = new Limits(1 << 20, 256, 256, 256, 64, 100_000);
    }

    /**
     * How to serve: where ({@code host}, {@code port}; 0 picks a free one), the token (null: loopback
     * only), the limits, the data directory (jobs, results files, and the only place request paths
     * may name), architectures in flight on the backend (0: the backend's default), and the
     * ground-truth table of a space when a request names none (may throw; null: none).
     */
    public record Options(String host, int port, String token, Limits limits, Path dataDir, int inFlight, Function<SearchSpace, Path> groundTruth) {
        public static Options loopback(Path dataDir) {
            return new Options("127.0.0.1", 0, null, Limits.DEFAULT, dataDir, 1, null);
        }

        public Options withToken(String t) {
            return new Options(host, port, t, limits, dataDir, inFlight, groundTruth);
        }

        public Options withHost(String h) {
            return new Options(h, port, token, limits, dataDir, inFlight, groundTruth);
        }

        public Options withLimits(Limits l) {
            return new Options(host, port, token, l, dataDir, inFlight, groundTruth);
        }

        public Options withInFlight(int k) {
            return new Options(host, port, token, limits, dataDir, k, groundTruth);
        }

        public Options withGroundTruth(Function<SearchSpace, Path> g) {
            return new Options(host, port, token, limits, dataDir, inFlight, g);
        }
    }

    static {
        // a client that sends part of a request and stalls would hold a handler thread for ever: the
        // JDK server closes a connection whose request takes longer than this (seconds), and one
        // whose response cannot be written in time
        String limit = System.getProperty("wrcor.serve.requestSeconds", "30");
        if (System.getProperty("sun.net.httpserver.maxReqTime") == null) System.setProperty("sun.net.httpserver.maxReqTime", limit);
        if (System.getProperty("sun.net.httpserver.maxRspTime") == null) System.setProperty("sun.net.httpserver.maxRspTime", "86400");
    }

    /** The shortest token a server accepts: guessing it must not be practical. */
    public static final int MIN_TOKEN_LENGTH = 16;

    private final HttpServer http;
    private final Backend backend;
    private final String token;
    private final Limits limits;
    private final Path dataDir, dataReal;
    private final Function<SearchSpace, Path> groundTruth;
    private final Scheduler scheduler;
    private final Jobs jobs;
    private final Map<String, Batch> batches = new HashMap<>(); // per space, size, batch, seed and data; guarded by itself
    private long batchBytes;
    private static final long MAX_BATCH_BYTES = 1L << 30;
    private final Arena arena = Arena.ofShared();
    private final AtomicLong requests = new AtomicLong();
    private final AtomicInteger waiting = new AtomicInteger(); // score requests not answered yet
    private final AtomicInteger active = new AtomicInteger(); // requests being handled
    private volatile boolean stopping;

    /** Starts serving (port 0: a free one, see {@link #port()}); resumes the data directory's unfinished jobs. */
    public Server(Backend backend, Options o) throws IOException {
        this(List.of(backend), o);
    }

    /** As above, the in-flight lanes spread over {@code devices} (lane i on device i mod n; the first is the server's backend). */
    public Server(List<Backend> devices, Options o) throws IOException {
        Backend backend = devices.getFirst();
        InetSocketAddress at = new InetSocketAddress(o.host(), o.port());
        if (at.isUnresolved()) throw new IllegalArgumentException("cannot resolve host " + o.host());
        if (o.token() == null && !at.getAddress().isLoopbackAddress()) {
            throw new IllegalArgumentException("binding to " + o.host() + " (not a loopback address) needs a token: give --token-file FILE");
        }
        if (o.token() != null && o.token().length() < MIN_TOKEN_LENGTH) {
            throw new IllegalArgumentException("the token has " + o.token().length() + " characters; use at least " + MIN_TOKEN_LENGTH);
        }
        this.backend = backend;
        this.token = o.token();
        this.limits = o.limits();
        this.groundTruth = o.groundTruth();
        this.dataDir = o.dataDir().toAbsolutePath().normalize();
        try {
            Files.createDirectories(dataDir);
            this.dataReal = dataDir.toRealPath();
        } catch (IOException e) {
            throw new IllegalArgumentException("data directory " + dataDir + ": " + io.wrcor.util.Files2.reason(e));
        }
        int k = o.inFlight() > 0 ? o.inFlight() : 1;
        if (k < devices.size()) throw new IllegalArgumentException("--in-flight " + k + " is fewer than the " + devices.size() + " devices of --devices");
        this.scheduler = new Scheduler(devices, k);
        try {
            this.jobs = new Jobs(dataDir, scheduler, this::jobSpec, this::jobOut, limits.maxJobs());
            this.http = HttpServer.create(at, 256);
        } catch (IOException | RuntimeException e) {
            scheduler.close();
            throw e;
        }
        http.createContext("/", this::handle);
        // one virtual thread per exchange: a request waiting for its scores, or a client following a job's
        // results, holds no platform thread
        http.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        http.start();
    }

    /** Architectures queued for the backend. */
    int queued() {
        return scheduler.queued();
    }

    /** Jobs the data directory held unfinished at start, now running again. */
    public int resumedJobs() {
        return jobs.resumed();
    }

    public int port() {
        return http.getAddress().getPort();
    }

    /** A request's failure with its HTTP status and message. */
    static final class HttpError extends RuntimeException {
        final int status;

        HttpError(int status, String message) {
            super(message);
            this.status = status;
        }
    }

    /** A route: method and path, where {id} stands for a job id. */
    public record Route(String method, String path) {
        boolean matches(String p) {
            String[] t = path.split("/"), q = p.split("/", -1);
            if (t.length != q.length) return false;
            for (int i = 0; i < t.length; i++) {
                if (t[i].equals("{id}") ? !q[i].matches("[A-Za-z0-9_-]{1,64}") : !t[i].equals(q[i])) return false;
            }
            return true;
        }
    }

    /** Every route; the OpenAPI document (resource openapi.json) must describe exactly these (ServeTest). */
    public static final List<Route> ROUTES = List.of(new Route("GET", "/v1/health"), new Route("GET", "/v1/ready"), new Route("GET", "/v1/backends"),
            new Route("GET", "/v1/metrics"), new Route("GET", "/v1/openapi.json"), new Route("POST", "/v1/score"), new Route("POST", "/v1/jobs"),
            new Route("GET", "/v1/jobs"), new Route("GET", "/v1/jobs/{id}"), new Route("DELETE", "/v1/jobs/{id}"),
            new Route("GET", "/v1/jobs/{id}/results"));

    private void handle(HttpExchange ex) throws IOException {
        requests.incrementAndGet();
        active.incrementAndGet();
        try (ex) {
            try {
                String client = clientOf(ex);
                if (token != null) {
                    String auth = ex.getRequestHeaders().getFirst("Authorization");
                    if (auth == null || !java.security.MessageDigest.isEqual(("Bearer " + token).getBytes(StandardCharsets.UTF_8),
                            auth.getBytes(StandardCharsets.UTF_8))) {
                        throw new HttpError(401, "missing or wrong token: send 'Authorization: Bearer TOKEN'");
                    }
                }
                // HEAD is answered as GET is, without the body
                String path = ex.getRequestURI().getPath(), method = ex.getRequestMethod().equals("HEAD") ? "GET" : ex.getRequestMethod();
                List<Route> matching = ROUTES.stream().filter(r -> r.matches(path)).toList();
                if (matching.isEmpty()) {
                    throw new HttpError(404, "no route " + path + " (routes: " + String.join(", ", ROUTES.stream().map(r -> r.method() + " " + r.path()).toList()) + ")");
                }
                Route route = matching.stream().filter(r -> r.method().equals(method)).findFirst().orElseThrow(() -> new HttpError(405,
                        "method " + method + " not allowed here; use " + String.join(" or ", matching.stream().map(Route::method).toList())));
                String[] parts = path.split("/");
                if (stopping && !route.path().equals("/v1/ready") && !route.path().equals("/v1/health")) {
                    throw new HttpError(503, "the server is stopping");
                }
                switch (route.method() + " " + route.path()) {
                    case "GET /v1/ready" -> send(ex, stopping ? 503 : 200, "{\"ready\": " + !stopping + ", \"queued\": " + scheduler.queued() + "}");
                    case "GET /v1/backends" -> send(ex, 200, backends());
                    case "GET /v1/metrics" -> sendText(ex, 200, metrics());
                    case "GET /v1/openapi.json" -> send(ex, 200, openApi());
                    case "GET /v1/health" -> send(ex, 200, "{\"status\": " + (stopping ? "\"stopping\"" : "\"ok\"") + ", \"backend\": " + Json.quote(backend.name()) + ", \"lanes\": "
                            + scheduler.lanes() + ", \"queued\": " + scheduler.queued() + "}");
                    case "POST /v1/score" -> score(ex, client, parseBody(ex));
                    case "POST /v1/jobs" -> {
                        if (stopping) throw new HttpError(503, "the server is stopping");
                        String text = bodyText(ex);
                        Job job = jobs.create(client, text, parseObject(text));
                        ex.getResponseHeaders().set("Location", "/v1/jobs/" + job.id);
                        send(ex, 201, job.statusJson());
                    }
                    case "GET /v1/jobs" -> {
                        StringBuilder sb = new StringBuilder("{\"jobs\": [");
                        List<Job> all = jobs.all();
                        for (int i = 0; i < all.size(); i++) sb.append(i == 0 ? "" : ", ").append(all.get(i).statusJson());
                        send(ex, 200, sb.append("]}").toString());
                    }
                    case "GET /v1/jobs/{id}" -> send(ex, 200, job(parts[3]).statusJson());
                    case "DELETE /v1/jobs/{id}" -> {
                        Job job = job(parts[3]);
                        if (!job.cancel(scheduler)) throw new HttpError(409, "job " + job.id + " is already " + job.state().label());
                        send(ex, 200, job.statusJson());
                    }
                    case "GET /v1/jobs/{id}/results" -> results(ex, job(parts[3]));
                    default -> throw new IllegalStateException("route without a handler: " + route);
                }
            } catch (HttpError e) {
                errors.computeIfAbsent(e.status, k -> new AtomicLong()).incrementAndGet();
                send(ex, e.status, error(e.getMessage()));
            } catch (RuntimeException | StackOverflowError e) {
                errors.computeIfAbsent(500, k -> new AtomicLong()).incrementAndGet();
                send(ex, 500, error("internal error: " + (e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName())));
            }
        } finally {
            active.decrementAndGet();
        }
    }

    private Job job(String id) {
        Job j = jobs.get(id);
        if (j == null) throw new HttpError(404, "no job " + id);
        return j;
    }

    /**
     * Who asks, for the fair share: the {@code X-Client-Id} header (letters, digits, {@code ._:-}, at
     * most 64), else the caller's address.
     */
    private static String clientOf(HttpExchange ex) {
        String id = ex.getRequestHeaders().getFirst("X-Client-Id");
        if (id == null) return ex.getRemoteAddress().getAddress().getHostAddress();
        if (!id.matches("[A-Za-z0-9._:-]{1,64}")) throw new HttpError(400, "X-Client-Id must be 1-64 letters, digits or ._:- characters");
        return id;
    }

    /**
     * A job's rows as JSON lines from row {@code from} (default 0); with {@code follow=true} the
     * answer stays open and each row is sent as it becomes known, until the job ends.
     */
    private void results(HttpExchange ex, Job job) throws IOException {
        Map<String, String> q = query(ex);
        for (String k : q.keySet()) if (!k.equals("from") && !k.equals("follow")) throw new HttpError(400, "unknown parameter '" + k + "' (from, follow)");
        int from;
        try {
            from = Integer.parseInt(q.getOrDefault("from", "0"));
        } catch (NumberFormatException e) {
            throw new HttpError(400, "from: expected a row number, got '" + q.get("from") + "'");
        }
        if (from < 0) throw new HttpError(400, "from: " + from + " is negative");
        String follow = q.getOrDefault("follow", "false");
        if (!follow.equals("true") && !follow.equals("false")) throw new HttpError(400, "follow: expected true or false, got '" + follow + "'");
        ex.getResponseHeaders().set("Content-Type", "application/x-ndjson");
        if (ex.getRequestMethod().equals("HEAD")) {
            ex.sendResponseHeaders(200, -1);
            return;
        }
        try {
            if (follow.equals("false")) {
                StringBuilder sb = new StringBuilder();
                for (String r : job.rows(from, 0)) sb.append(r).append('\n');
                byte[] b = sb.toString().getBytes(StandardCharsets.UTF_8);
                ex.sendResponseHeaders(200, b.length == 0 ? -1 : b.length);
                if (b.length > 0) {
                    try (OutputStream out = ex.getResponseBody()) {
                        out.write(b);
                    }
                }
                return;
            }
            ex.sendResponseHeaders(200, 0); // chunked
            try (OutputStream out = ex.getResponseBody()) {
                int at = from;
                while (true) {
                    boolean settled = job.settled();
                    List<String> rows = job.rows(at, 1000);
                    for (String r : rows) out.write((r + "\n").getBytes(StandardCharsets.UTF_8));
                    if (!rows.isEmpty()) out.flush();
                    at += rows.size();
                    if (rows.isEmpty() && (settled || stopping)) break;
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static Map<String, String> query(HttpExchange ex) {
        Map<String, String> q = new LinkedHashMap<>();
        String raw = ex.getRequestURI().getRawQuery();
        if (raw == null || raw.isEmpty()) return q;
        for (String kv : raw.split("&")) {
            int eq = kv.indexOf('=');
            String k = java.net.URLDecoder.decode(eq < 0 ? kv : kv.substring(0, eq), StandardCharsets.UTF_8);
            q.put(k, eq < 0 ? "" : java.net.URLDecoder.decode(kv.substring(eq + 1), StandardCharsets.UTF_8));
        }
        return q;
    }

    private final Map<Integer, AtomicLong> errors = new java.util.concurrent.ConcurrentHashMap<>();
    private String backendsJson;

    /** Prometheus text format (0.0.4). */
    private String metrics() {
        StringBuilder sb = new StringBuilder();
        metric(sb, "wrcor_requests_total", "counter", "HTTP requests received.").append("wrcor_requests_total ").append(requests.get()).append('\n');
        metric(sb, "wrcor_errors_total", "counter", "Requests answered with an error status.");
        new java.util.TreeMap<>(errors).forEach((k, v) -> sb.append("wrcor_errors_total{status=\"").append(k).append("\"} ").append(v.get()).append('\n'));
        metric(sb, "wrcor_architectures_scored_total", "counter", "Architectures scored (requests and jobs).")
                .append("wrcor_architectures_scored_total ").append(scheduler.scored()).append('\n');
        metric(sb, "wrcor_queue_depth", "gauge", "Architectures queued for the backend.").append("wrcor_queue_depth ").append(scheduler.queued()).append('\n');
        metric(sb, "wrcor_architectures_running", "gauge", "Architectures being scored now.")
                .append("wrcor_architectures_running ").append(scheduler.running()).append('\n');
        metric(sb, "wrcor_score_requests_waiting", "gauge", "Score requests not answered yet.")
                .append("wrcor_score_requests_waiting ").append(waiting.get()).append('\n');
        metric(sb, "wrcor_clients_gone_total", "counter", "Score requests whose client left before the answer (their queued work dropped).")
                .append("wrcor_clients_gone_total ").append(clientsGone.get()).append('\n');
        metric(sb, "wrcor_lanes", "gauge", "Architectures the backend scores at once.").append("wrcor_lanes ").append(scheduler.lanes()).append('\n');
        metric(sb, "wrcor_jobs", "gauge", "Jobs by state.");
        jobs.counts().forEach((k, v) -> sb.append("wrcor_jobs{state=\"").append(k).append("\"} ").append(v).append('\n'));
        metric(sb, "wrcor_architecture_seconds", "summary", "Seconds per scored architecture.");
        sb.append("wrcor_architecture_seconds_sum ").append(scheduler.scoredSeconds()).append('\n');
        sb.append("wrcor_architecture_seconds_count ").append(scheduler.scored()).append('\n');
        return sb.toString();
    }

    private static StringBuilder metric(StringBuilder sb, String name, String type, String help) {
        return sb.append("# HELP ").append(name).append(' ').append(help).append("\n# TYPE ").append(name).append(' ').append(type).append('\n');
    }

    /** The backends this machine has, each "available" or why not; probed once, on first request. */
    private synchronized String backends() {
        if (backendsJson == null) {
            Map<String, Object> m = new LinkedHashMap<>();
            for (String name : List.of("cpu", "opencl", "cuda")) {
                if (backend.name().startsWith(name)) {
                    m.put(name, "serving");
                    continue;
                }
                try {
                    Backend b = io.wrcor.backend.Backends.open(name, 1, note -> { });
                    if (b instanceof AutoCloseable c) c.close();
                    m.put(name, "available");
                } catch (Exception | LinkageError e) {
                    m.put(name, "unavailable: " + e.getMessage());
                }
            }
            backendsJson = "{\"serving\": " + Json.quote(backend.name()) + ", \"backends\": " + toJson(m) + "}";
        }
        return backendsJson;
    }

    private static String openApi() {
        try (InputStream in = Server.class.getResourceAsStream("/openapi.json")) {
            if (in == null) throw new IllegalStateException("openapi.json is missing from the build");
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static void sendText(HttpExchange ex, int status, String body) throws IOException {
        send(ex, status, body, "text/plain; version=0.0.4");
    }

    private Map<String, Object> parseBody(HttpExchange ex) throws IOException {
        return parseObject(bodyText(ex));
    }

    private String bodyText(HttpExchange ex) throws IOException {
        String type = ex.getRequestHeaders().getFirst("Content-Type");
        if (type != null && !type.toLowerCase().startsWith("application/json")) throw new HttpError(415, "Content-Type must be application/json, got " + type);
        String declared = ex.getRequestHeaders().getFirst("Content-Length");
        if (declared != null) {
            try {
                if (Long.parseLong(declared.trim()) > limits.maxBodyBytes()) throw new HttpError(413, "body of " + declared + " bytes is over the limit of " + limits.maxBodyBytes());
            } catch (NumberFormatException e) {
                throw new HttpError(400, "Content-Length is not a number: " + declared);
            }
        }
        byte[] body;
        try (InputStream in = ex.getRequestBody()) {
            body = in.readNBytes(limits.maxBodyBytes() + 1);
        }
        if (body.length > limits.maxBodyBytes()) throw new HttpError(413, "body is over the limit of " + limits.maxBodyBytes() + " bytes");
        try {
            return StandardCharsets.UTF_8.newDecoder().decode(java.nio.ByteBuffer.wrap(body)).toString();
        } catch (java.nio.charset.CharacterCodingException e) {
            throw new HttpError(400, "body is not valid UTF-8");
        }
    }

    private static Map<String, Object> parseObject(String text) {
        try {
            return Json.parseObject(text);
        } catch (RuntimeException e) {
            throw new HttpError(400, "body is not a JSON object: " + e.getMessage());
        }
    }

    /** Fields every scoring request may give (the CLI's settings). */
    private static final List<String> SETTINGS = List.of("space", "proxies", "batch", "seed", "channels", "cells", "classes", "data");

    private static void onlyFields(Map<String, Object> req, List<String> allowed) {
        for (String k : req.keySet()) {
            if (!allowed.contains(k)) throw new HttpError(400, "unknown field '" + k + "' (fields: " + String.join(", ", allowed) + ")");
        }
    }

    private static SearchSpace spaceOf(Map<String, Object> req) {
        try {
            return SearchSpaces.get(string(req, "space", "nb201"));
        } catch (HttpError e) {
            throw e;
        } catch (RuntimeException e) {
            throw new HttpError(400, "space: " + e.getMessage());
        }
    }

    /** The request's proxies, or {@code dflt} when it names none. */
    private static List<Proxy> proxyNames(Map<String, Object> req, String dflt) {
        Object p = req.get("proxies");
        if (p == null) return Proxy.parseList(dflt);
        if (!(p instanceof List<?> pl) || pl.isEmpty()) throw new HttpError(400, "proxies: expected a non-empty list of proxy names");
        List<String> names = new ArrayList<>();
        for (int i = 0; i < pl.size(); i++) {
            if (!(pl.get(i) instanceof String s)) throw new HttpError(400, "proxies[" + i + "]: expected a string");
            names.add(s);
        }
        try {
            return Proxy.parseList(String.join(",", names));
        } catch (RuntimeException e) {
            throw new HttpError(400, "proxies: " + e.getMessage());
        }
    }

    private static List<Arch> archsOf(Map<String, Object> req, SearchSpace space, int max) {
        Object archsValue = req.get("archs");
        if (!(archsValue instanceof List<?> archList)) throw new HttpError(400, "archs: expected a list of architecture strings");
        if (archList.isEmpty()) throw new HttpError(400, "archs: the list is empty");
        if (archList.size() > max) throw new HttpError(413, "archs: " + archList.size() + " architectures, over the limit of " + max + " per request");
        List<Arch> archs = new ArrayList<>();
        for (int i = 0; i < archList.size(); i++) {
            if (!(archList.get(i) instanceof String s)) throw new HttpError(400, "archs[" + i + "]: expected a string");
            try {
                archs.add(space.parse(s));
            } catch (RuntimeException e) {
                throw new HttpError(400, "archs[" + i + "]: " + e.getMessage());
            }
        }
        return archs;
    }

    /** The settings of a request: network size, input batch (built once per distinct settings), seed. */
    private Settings settingsOf(Map<String, Object> req, SearchSpace space) {
        NetSize d = space.defaultSize();
        int batchSize = integer(req, "batch", 64, 2, limits.maxBatch());
        long seed = integer(req, "seed", 0, 0, Integer.MAX_VALUE);
        String data = string(req, "data", null);
        Path dataPath = data == null ? null : inDataDir("data", data, true);
        NetSize net = new NetSize(integer(req, "channels", d.channels(), 1, 4096), integer(req, "cells", d.cells(), 1, 64),
                integer(req, "classes", d.classes(), 1, 1_000_000), data != null && !Files.isDirectory(dataPath) ? io.wrcor.data.Cifar10.SIZE : d.imageSize());
        String key = space.name() + " " + net.key() + " " + batchSize + " " + seed + " " + data;
        Batch batch;
        synchronized (batches) {
            batch = batches.get(key);
        }
        if (batch == null) {
            // read outside the lock: a slow or large file delays only the requests that need it
            long bytes = (long) batchSize * 3 * net.imageSize() * net.imageSize() * 4;
            checkBatchRoom(bytes);
            Batch loaded;
            try {
                loaded = io.wrcor.data.Inputs.batch(dataPath, batchSize, net.classes(), net.imageSize(), seed, arena);
            } catch (IllegalArgumentException | java.io.UncheckedIOException e) {
                throw new HttpError(400, "data: " + e.getMessage().replace(dataReal + "/", "").replace(dataDir + "/", ""));
            }
            synchronized (batches) {
                batch = batches.get(key);
                if (batch == null) {
                    checkBatchRoom(bytes);
                    batches.put(key, batch = loaded);
                    batchBytes += bytes;
                }
            }
        }
        String run = RunKey.ofInit(space, net, seed, batch);
        return new Settings(space, net, batchSize, seed, data, batch, run);
    }

    /** 503 when another input batch of this many bytes would take the server over its limit. */
    private void checkBatchRoom(long bytes) {
        synchronized (batches) {
            if (batchBytes + bytes > MAX_BATCH_BYTES) {
                throw new HttpError(503, "this server holds " + batches.size() + " input batches (" + batchBytes / 1_000_000 + " MB), its limit;"
                        + " reuse the batch, seed and data of earlier requests, or restart it");
            }
        }
    }

    /**
     * A path a request names, relative to the data directory: never absolute, never with
     * {@code ..}, and (following links) inside the data directory; {@code mustExist} for inputs.
     */
    private Path inDataDir(String field, String rel, boolean mustExist) {
        if (rel.isEmpty() || rel.indexOf('\0') >= 0 || rel.startsWith("/") || rel.startsWith("\\") || rel.matches("^[A-Za-z]:.*")) {
            throw new HttpError(400, field + ": '" + rel + "' must be a path relative to the server's data directory");
        }
        for (String seg : rel.split("[/\\\\]")) {
            if (seg.equals("..")) throw new HttpError(400, field + ": '" + rel + "' may not contain '..' (paths stay inside the data directory)");
        }
        Path p = dataDir.resolve(rel).normalize();
        if (!p.startsWith(dataDir)) throw new HttpError(400, field + ": '" + rel + "' is outside the data directory");
        try {
            // the deepest existing ancestor, links followed, must still be inside
            Path existing = p;
            while (existing != null && !Files.exists(existing, java.nio.file.LinkOption.NOFOLLOW_LINKS)) existing = existing.getParent();
            if (existing != null && !existing.toRealPath().startsWith(dataReal)) {
                throw new HttpError(400, field + ": '" + rel + "' leads outside the data directory (through a link)");
            }
        } catch (IOException e) {
            throw new HttpError(400, field + ": '" + rel + "': " + io.wrcor.util.Files2.reason(e));
        }
        if (mustExist && !Files.exists(p)) throw new HttpError(400, field + ": '" + rel + "' does not exist in the data directory");
        return p;
    }

    /** POST /v1/score: validated in full before any work, then its architectures are queued for the lanes (fair share per client). */
    /** Answers a score request (see {@link #scoreNow}). */
    private void score(HttpExchange ex, String client, Map<String, Object> req) throws IOException {
        if (stopping) throw new HttpError(503, "the server is stopping");
        if (req.containsKey("onnx") || req.containsKey("onnx_path")) {
            scoreOnnx(ex, client, req);
            return;
        }
        List<String> fields = new ArrayList<>(SETTINGS);
        fields.add("archs");
        onlyFields(req, fields);
        SearchSpace space = spaceOf(req);
        List<Arch> archs = archsOf(req, space, limits.maxArchs());
        List<Proxy> proxies = proxyNames(req, "wrcor");
        Settings settings = settingsOf(req, space);
        for (Arch a : archs) checkMemory(space.build(a, settings.net(), true), a, settings.batchSize(), proxies);
        if (waiting.incrementAndGet() > limits.maxQueue()) {
            waiting.decrementAndGet();
            throw new HttpError(429, "the scoring queue is full (" + limits.maxQueue() + " requests); retry later");
        }
        try {
            scoreNow(ex, client, settings, archs, proxies);
        } finally {
            waiting.decrementAndGet();
        }
    }

    /** Seconds a score request waits before its answer starts (then a space a second until the rows follow); -Dwrcor.serve.probeSeconds. */
    private final int probeSeconds = Integer.getInteger("wrcor.serve.probeSeconds", 10);
    private final AtomicLong clientsGone = new AtomicLong();

    private void checkMemory(io.wrcor.graph.Graph g, Arch a, int batchSize, List<Proxy> proxies) {
        long need = Engine.memoryNeeded(g, batchSize, proxies);
        if (need > Engine.memoryBudget()) {
            throw new HttpError(413, "architecture " + a + " needs about " + need / 1_000_000_000.0 + " GB at batch " + batchSize
                    + ", over this server's " + Engine.memoryBudget() / 1_000_000_000.0 + " GB");
        }
    }

    /**
     * Queues the architectures, waits for them and answers the rows, as the CLI prints them, in
     * request order. A client that leaves must not leave its work behind, and an HTTP server learns
     * that a connection is gone only by writing to it: so an answer still under way after
     * {@link #probeSeconds} starts (200, JSON), a space a second keeps it open, and the first write
     * that fails drops the request's queued architectures (the ones being scored finish). Leading
     * spaces are JSON's own; a failure after the answer started comes as {@code {"error": ...,
     * "status": N}} in it.
     */
    private void scoreNow(HttpExchange ex, String client, Settings settings, List<Arch> archs, List<Proxy> proxies) throws IOException {
        int n = archs.size();
        String[] rows = new String[n];
        RuntimeException[] failure = new RuntimeException[1];
        java.util.concurrent.CountDownLatch left = new java.util.concurrent.CountDownLatch(n);
        Object owner = new Object();
        List<Scheduler.Work> work = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            final int k = i;
            work.add(new Scheduler.Work() {
                @Override
                public Settings settings() {
                    return settings;
                }

                @Override
                public Arch arch() {
                    return archs.get(k);
                }

                @Override
                public List<Proxy> proxies() {
                    return proxies;
                }

                @Override
                public void done(Scorer.Result r, double seconds) {
                    Map<String, Double> scores = new LinkedHashMap<>();
                    for (Proxy p : proxies) scores.put(p.label, r.score(p));
                    String a = archs.get(k).toString(), key = settings.space().key(archs.get(k));
                    rows[k] = new ResultsFile.Row(a, scores, seconds, settings.run(), ResultsFile.currentDefs(scores.keySet()))
                            .withHash(key.equals(a) ? null : key).toJson();
                    left.countDown();
                }

                @Override
                public void failed(RuntimeException e) {
                    firstFailure(failure, left, e);
                }
            });
        }
        runAndAnswer(ex, client, owner, work, rows, failure, left);
    }

    /** Keeps the first failure of a request's work and counts the work as ended. */
    private static void firstFailure(RuntimeException[] failure, java.util.concurrent.CountDownLatch left, RuntimeException e) {
        synchronized (failure) {
            if (failure[0] == null) failure[0] = e;
        }
        left.countDown();
    }

    /**
     * Queues {@code work} for {@code owner}, waits for it (probing the client, see {@link #scoreNow})
     * and answers {@code {"results": [rows...]}}, or the first failure.
     */
    private void runAndAnswer(HttpExchange ex, String client, Object owner, List<Scheduler.Work> work, String[] rows, RuntimeException[] failure,
                              java.util.concurrent.CountDownLatch left) throws IOException {
        int n = rows.length;
        try {
            scheduler.submit(client, owner, work);
        } catch (IllegalStateException e) {
            throw new HttpError(503, "the server is stopping");
        }
        OutputStream started = null;
        long t0 = System.nanoTime();
        try {
            while (!left.await(1, java.util.concurrent.TimeUnit.SECONDS)) {
                if (started == null && System.nanoTime() - t0 >= probeSeconds * 1_000_000_000L) {
                    ex.getResponseHeaders().set("Content-Type", "application/json");
                    ex.sendResponseHeaders(200, 0); // chunked: the rows follow when they are known
                    started = ex.getResponseBody();
                }
                if (started != null) {
                    try {
                        started.write(' ');
                        started.flush();
                    } catch (IOException gone) {
                        int dropped = scheduler.cancel(owner);
                        clientsGone.incrementAndGet();
                        System.err.println("wrcor: serve: a client (" + client + ") left before its answer; " + dropped
                                + " of its queued architectures dropped");
                        return;
                    }
                }
            }
        } catch (InterruptedException e) {
            scheduler.cancel(owner);
            Thread.currentThread().interrupt();
            throw new HttpError(503, "interrupted");
        }
        HttpError error = null;
        synchronized (failure) {
            if (failure[0] != null) {
                scheduler.cancel(owner);
                if (failure[0] instanceof Scheduler.StoppingException) error = new HttpError(503, "the server is stopping");
                else if (failure[0] instanceof IllegalArgumentException iae) error = new HttpError(400, iae.getMessage());
                else if (started == null) throw failure[0];
                else error = new HttpError(500, "internal error: " + failure[0].getMessage());
            }
        }
        String body;
        if (error != null) {
            if (started == null) throw error;
            body = error(error.getMessage(), error.status);
        } else {
            StringBuilder sb = new StringBuilder("{\"results\": [");
            for (int i = 0; i < n; i++) sb.append(i == 0 ? "" : ", ").append(rows[i]);
            body = sb.append("]}").toString();
        }
        if (started == null) {
            send(ex, 200, body);
            return;
        }
        try (OutputStream out = started) {
            out.write(body.getBytes(StandardCharsets.UTF_8));
        } catch (IOException gone) {
            clientsGone.incrementAndGet(); // it left as its answer came
        }
    }

    /**
     * POST /v1/score with an ONNX model: {@code "onnx"} (the model file as base64, within the body
     * limit) or {@code "onnx_path"} (a model in the data directory, external data beside it), with
     * {@code proxies}, {@code batch}, {@code seed}, {@code data} and an optional {@code name} for the
     * row. Read and checked before it is queued (a bad model is a 400, one too large a 413); scored on
     * a lane like any architecture; answered as one row, keyed by the model's content.
     */
    private void scoreOnnx(HttpExchange ex, String client, Map<String, Object> req) throws IOException {
        onlyFields(req, List.of("onnx", "onnx_path", "name", "proxies", "batch", "seed", "data"));
        if (req.containsKey("onnx") && req.containsKey("onnx_path")) throw new HttpError(400, "give onnx (the model as base64) or onnx_path, not both");
        List<Proxy> proxies = proxyNames(req, "wrcor");
        try {
            io.wrcor.onnx.OnnxModel.requireDefined(proxies);
        } catch (IllegalArgumentException e) {
            throw new HttpError(400, "proxies: " + e.getMessage());
        }
        Path modelFile;
        String name;
        Path tmpDir = null;
        if (req.containsKey("onnx")) {
            String b64 = string(req, "onnx", null);
            byte[] bytes;
            try {
                bytes = java.util.Base64.getDecoder().decode(b64 == null ? "" : b64.replaceAll("\\s", ""));
            } catch (IllegalArgumentException e) {
                throw new HttpError(400, "onnx: not base64 (" + e.getMessage() + ")");
            }
            name = string(req, "name", "model.onnx");
            tmpDir = Files.createTempDirectory("wrcor-onnx");
            modelFile = tmpDir.resolve("model.onnx");
            Files.write(modelFile, bytes);
        } else {
            modelFile = inDataDir("onnx_path", string(req, "onnx_path", ""), true);
            name = string(req, "name", modelFile.getFileName().toString());
        }
        // freed by the collector once neither this request nor a lane still scoring it (a client that left) holds it
        Arena modelArena = Arena.ofAuto();
        try {
            io.wrcor.onnx.OnnxModel m;
            try {
                m = io.wrcor.onnx.OnnxModel.load(modelFile, modelArena);
            } catch (IllegalArgumentException e) {
                String msg = e.getMessage();
                if (tmpDir != null) msg = msg.replace("model.onnx", name);
                throw new HttpError(400, "onnx: " + msg.replace(dataReal + "/", "").replace(dataDir + "/", ""));
            }
            int[] in = m.inputShape();
            int b;
            try {
                b = m.batchFor(req.containsKey("batch") ? integer(req, "batch", 64, 2, limits.maxBatch()) : null);
            } catch (IllegalArgumentException e) {
                throw new HttpError(400, "onnx: " + (tmpDir != null ? e.getMessage().replace("model.onnx", name) : e.getMessage()));
            }
            long need = Engine.memoryNeeded(m.graph(), b, proxies);
            if (need > Engine.memoryBudget()) {
                throw new HttpError(413, "onnx: the model needs about " + need / 1_000_000_000.0 + " GB at batch " + b + ", over this server's "
                        + Engine.memoryBudget() / 1_000_000_000.0 + " GB");
            }
            long seed = integer(req, "seed", 0, 0, Integer.MAX_VALUE);
            String data = string(req, "data", null);
            Batch batch;
            try {
                batch = io.wrcor.data.Inputs.batch(data == null ? null : inDataDir("data", data, true), b, m.classes(), in[1], seed, modelArena);
            } catch (IllegalArgumentException | java.io.UncheckedIOException e) {
                throw new HttpError(400, "data: " + e.getMessage().replace(dataReal + "/", "").replace(dataDir + "/", ""));
            }
            String run = m.runKey(batch);
            String[] rows = new String[1];
            RuntimeException[] failure = new RuntimeException[1];
            java.util.concurrent.CountDownLatch left = new java.util.concurrent.CountDownLatch(1);
            Scheduler.Work work = new Scheduler.Work() {
                @Override
                public Settings settings() {
                    return null; // a network of its own: scoreOn
                }

                @Override
                public Arch arch() {
                    return null;
                }

                @Override
                public String describe() {
                    return "ONNX model " + name;
                }

                @Override
                public List<Proxy> proxies() {
                    return proxies;
                }

                @Override
                public Scorer.Result scoreOn(Engine engine, Scorer scorer, Batch unused) {
                    return m.score(scorer, batch, proxies);
                }

                @Override
                public void done(Scorer.Result r, double seconds) {
                    Map<String, Double> scores = new LinkedHashMap<>();
                    for (Proxy p : proxies) scores.put(p.label, r.score(p));
                    rows[0] = new ResultsFile.Row(name, scores, seconds, run, ResultsFile.currentDefs(scores.keySet())).toJson();
                    left.countDown();
                }

                @Override
                public void failed(RuntimeException e) {
                    firstFailure(failure, left, e);
                }
            };
            if (waiting.incrementAndGet() > limits.maxQueue()) {
                waiting.decrementAndGet();
                throw new HttpError(429, "the scoring queue is full (" + limits.maxQueue() + " requests); retry later");
            }
            try {
                runAndAnswer(ex, client, new Object(), List.of(work), rows, failure, left);
            } finally {
                waiting.decrementAndGet();
            }
        } finally {
            if (tmpDir != null) {
                Files.deleteIfExists(modelFile);
                Files.deleteIfExists(tmpDir);
            }
        }
    }

    /** Fields of a job request. */
    private static final List<String> JOB_FIELDS;

    static {
        List<String> f = new ArrayList<>(SETTINGS);
        f.addAll(List.of("kind", "archs", "sample", "all", "out", "gt", "algo", "n", "population", "tournament", "objective"));
        JOB_FIELDS = List.copyOf(f);
    }

    /** A job request, checked in full (paths, sizes, architectures) before the job is accepted. */
    private Job.Spec jobSpec(Map<String, Object> req) {
        onlyFields(req, JOB_FIELDS);
        String kind = string(req, "kind", null);
        if (kind == null) throw new HttpError(400, "kind: missing (score, correlate or search)");
        SearchSpace space = spaceOf(req);
        Map<String, List<String>> only = Map.of("score", List.of("archs", "sample"), "correlate", List.of("sample", "all", "gt"),
                "search", List.of("algo", "n", "population", "tournament", "objective", "gt"));
        if (!only.containsKey(kind)) throw new HttpError(400, "kind: unknown '" + kind + "' (score, correlate or search)");
        for (var e : only.entrySet()) {
            if (e.getKey().equals(kind)) continue;
            for (String k : e.getValue()) {
                if (req.containsKey(k) && !only.get(kind).contains(k)) throw new HttpError(400, k + ": not a field of a " + kind + " job");
            }
        }
        switch (kind) {
            case "score" -> {
                List<Proxy> proxies = proxyNames(req, "wrcor");
                List<Arch> archs;
                if (req.containsKey("archs") == req.containsKey("sample")) throw new HttpError(400, "a score job needs archs (a list) or sample (a count), not both");
                Settings settings = settingsOf(req, space);
                if (req.containsKey("archs")) {
                    archs = archsOf(req, space, limits.maxJobArchs());
                } else {
                    int n = integer(req, "sample", 0, 1, limits.maxJobArchs());
                    java.util.LinkedHashSet<Arch> drawn = new java.util.LinkedHashSet<>();
                    java.util.SplittableRandom rnd = new java.util.SplittableRandom(settings.seed());
                    for (int i = 0; drawn.size() < n && i < 20L * n; i++) drawn.add(space.sample(rnd));
                    archs = List.copyOf(drawn);
                }
                checkSome(archs, settings, proxies);
                return new Job.Spec(kind, settings, proxies, archs, null, 0, null, null, null, 0);
            }
            case "correlate" -> {
                List<Proxy> proxies = proxyNames(req, "wrcor,naswot,synflow,jacob_cor,params,flops");
                Settings settings = settingsOf(req, space);
                io.wrcor.eval.GroundTruth gt = groundTruthOf(req, space, true);
                boolean all = req.get("all") instanceof Boolean b ? b : false;
                if (req.containsKey("all") && !(req.get("all") instanceof Boolean)) throw new HttpError(400, "all: expected true or false");
                if (all && req.containsKey("sample")) throw new HttpError(400, "give sample or all, not both");
                int k = all ? gt.size() : integer(req, "sample", Math.min(650, gt.size()), 2, gt.size());
                checkSome(List.of(space.parse(gt.arch(0))), settings, proxies);
                return new Job.Spec(kind, settings, proxies, List.of(), gt, k, null, null, null, 0);
            }
            default -> {
                if (req.containsKey("proxies")) throw new HttpError(400, "proxies: a search job scores its objective's proxies; give objective");
                io.wrcor.vote.Vote objective;
                try {
                    objective = io.wrcor.vote.Vote.parse(string(req, "objective", io.wrcor.search.Objective.defaultVote(space)));
                } catch (HttpError e) {
                    throw e;
                } catch (RuntimeException e) {
                    throw new HttpError(400, "objective: " + e.getMessage());
                }
                String algo = string(req, "algo", "evolution");
                io.wrcor.search.Search search;
                try {
                    search = io.wrcor.search.Search.of(algo, integer(req, "population", 64, 1, 1_000_000), integer(req, "tournament", 10, 1, 1_000_000),
                            1e-3, 0.9, 100);
                } catch (HttpError e) {
                    throw e;
                } catch (IllegalArgumentException e) {
                    throw new HttpError(400, "algo: " + e.getMessage());
                }
                int n = integer(req, "n", space.publishedEvaluations(), 1, limits.maxJobArchs());
                Settings settings = settingsOf(req, space);
                io.wrcor.eval.GroundTruth gt = groundTruthOf(req, space, false);
                checkSome(List.of(), settings, objective.members());
                return new Job.Spec(kind, settings, objective.members(), List.of(), gt, 0, search, algo, objective, n);
            }
        }
    }

    /** The memory check on the first architectures of a job and a few drawn from its space (the largest may only come later). */
    private void checkSome(List<Arch> archs, Settings s, List<Proxy> proxies) {
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(0);
        List<Arch> some = new ArrayList<>(archs.subList(0, Math.min(16, archs.size())));
        for (int i = 0; i < 4; i++) some.add(s.space().sample(rnd));
        for (Arch a : some) checkMemory(s.space().build(a, s.net(), true), a, s.batchSize(), proxies);
    }

    /** The request's {@code gt} (in the data directory), else the space's default table; null when optional and there is none. */
    private io.wrcor.eval.GroundTruth groundTruthOf(Map<String, Object> req, SearchSpace space, boolean required) {
        String gt = string(req, "gt", null);
        Path p;
        if (gt != null) {
            p = inDataDir("gt", gt, true);
        } else {
            try {
                p = groundTruth == null ? null : groundTruth.apply(space);
            } catch (RuntimeException e) {
                if (!required) return null;
                throw new HttpError(400, "gt: no table given and " + e.getMessage());
            }
            if (p == null) {
                if (!required) return null;
                throw new HttpError(400, "gt: this server has no accuracy table for " + space.name() + "; give gt (a file in the data directory)");
            }
        }
        try {
            io.wrcor.eval.GroundTruth t = io.wrcor.eval.GroundTruth.load(p, space);
            return required ? t.requireComplete() : t;
        } catch (RuntimeException e) {
            throw new HttpError(400, "gt: " + (gt != null ? e.getMessage().replace(dataReal + "/", "").replace(dataDir + "/", "") : e.getMessage()));
        }
    }

    /** A job's results file: {@code out} in the data directory (a .jsonl file), or null for the job's own. */
    private Path jobOut(Map<String, Object> req) {
        String out = string(req, "out", null);
        if (out == null) return null;
        Path p = inDataDir("out", out, false);
        if (!out.endsWith(".jsonl")) throw new HttpError(400, "out: '" + out + "' must be a .jsonl file (JSON lines)");
        if (Files.isDirectory(p)) throw new HttpError(400, "out: '" + out + "' is a folder");
        return p;
    }

    static String string(Map<String, Object> req, String key, String dflt) {
        Object v = req.get(key);
        if (v == null) return dflt;
        if (!(v instanceof String s)) throw new HttpError(400, key + ": expected a string");
        return s;
    }

    private static int integer(Map<String, Object> req, String key, int dflt, int min, int max) {
        Object v = req.get(key);
        if (v == null) return dflt;
        if (!(v instanceof Number n) || n.doubleValue() != Math.rint(n.doubleValue())) throw new HttpError(400, key + ": expected an integer, got " + v);
        double d = n.doubleValue();
        if (d < min || d > max) throw new HttpError(400, key + ": " + (long) d + " is outside " + min + ".." + max);
        return (int) d;
    }

    /** The error body; a message that quotes a huge input is cut (a request never gets its 1 MB body echoed back). */
    private static String error(String message) {
        return error(message, 0);
    }

    /** As above, with the status beside it when it is not the answer's own (an answer that had started as 200); 0: none. */
    private static String error(String message, int status) {
        return "{\"error\": " + Json.quote(Json.clip(String.valueOf(message), 1000)) + (status == 0 ? "" : ", \"status\": " + status) + "}";
    }

    private static String toJson(Map<String, Object> m) {
        StringBuilder sb = new StringBuilder("{");
        for (var e : m.entrySet()) {
            if (sb.length() > 1) sb.append(", ");
            sb.append(Json.quote(e.getKey())).append(": ");
            sb.append(e.getValue() instanceof Number n ? n.toString() : Json.quote(String.valueOf(e.getValue())));
        }
        return sb.append('}').toString();
    }

    private static void send(HttpExchange ex, int status, String body) throws IOException {
        send(ex, status, body, "application/json");
    }

    private static void send(HttpExchange ex, int status, String body, String contentType) throws IOException {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", contentType);
        if (ex.getRequestMethod().equals("HEAD")) {
            ex.getResponseHeaders().set("Content-Length", Integer.toString(b.length));
            ex.sendResponseHeaders(status, -1);
            return;
        }
        ex.sendResponseHeaders(status, b.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(b);
        }
    }

    /**
     * Graceful stop: no new requests or jobs (503), running jobs stop where they are and stay
     * resumable, answers under way finish (up to 30 s), the lanes finish the architectures they
     * are scoring (their scores are stored), then everything is closed.
     */
    @Override
    public void close() {
        stopping = true;
        jobs.stop();
        // the answers under way finish (at most 30 s) while new requests are answered 503; then the listener closes
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (active.get() > 0 && System.nanoTime() < deadline) {
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        http.stop(0);
        scheduler.close();
        jobs.close();
        arena.close();
    }
}
