package io.wrcor.serve;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.wrcor.Engine;
import io.wrcor.backend.Backend;
import io.wrcor.data.Batch;
import io.wrcor.data.Cifar10;
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
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.RejectedExecutionException;

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
    /** Limits on what one request may ask. */
    public record Limits(int maxBodyBytes, int maxArchs, int maxQueue, int maxBatch) {
        public static final Limits DEFAULT = new Limits(1 << 20, 256, 64, 256);
    }

    static {
        // a client that sends part of a request and stalls would hold a handler thread for ever: the
        // JDK server closes a connection whose request takes longer than this (seconds), and one
        // whose response cannot be written in time
        String limit = System.getProperty("wrcor.serve.requestSeconds", "30");
        if (System.getProperty("sun.net.httpserver.maxReqTime") == null) System.setProperty("sun.net.httpserver.maxReqTime", limit);
        if (System.getProperty("sun.net.httpserver.maxRspTime") == null) System.setProperty("sun.net.httpserver.maxRspTime", "3600");
    }

    private final HttpServer http;
    private final Backend backend;
    private final String token;
    private final Limits limits;
    private final ThreadPoolExecutor engineThread;
    private final Map<String, Engine> engines = new HashMap<>(); // per space and network size; engine thread only
    private final Map<String, Batch> batches = new HashMap<>(); // per space, size, batch and seed; engine thread only
    private final Arena arena = Arena.ofShared();
    private final java.util.concurrent.atomic.AtomicLong requests = new java.util.concurrent.atomic.AtomicLong();

    /**
     * Starts serving on host:port (port 0: a free one, see {@link #port()}).
     *
     * @param token null for none: then only a loopback address is accepted
     */
    public Server(String host, int port, Backend backend, String token, Limits limits) throws IOException {
        InetSocketAddress at = new InetSocketAddress(host, port);
        if (at.isUnresolved()) throw new IllegalArgumentException("cannot resolve host " + host);
        if (token == null && !at.getAddress().isLoopbackAddress()) {
            throw new IllegalArgumentException("binding to " + host + " (not a loopback address) needs a token: give --token-file FILE");
        }
        this.backend = backend;
        this.token = token;
        this.limits = limits;
        this.engineThread = new ThreadPoolExecutor(1, 1, 0, TimeUnit.SECONDS, new ArrayBlockingQueue<>(limits.maxQueue()), r -> {
            Thread t = new Thread(r, "wrcor-engine");
            t.setDaemon(true);
            return t;
        });
        this.http = HttpServer.create(at, 64);
        http.createContext("/", this::handle);
        http.setExecutor(java.util.concurrent.Executors.newFixedThreadPool(8, r -> {
            Thread t = new Thread(r, "wrcor-http");
            t.setDaemon(true);
            return t;
        }));
        http.start();
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

    private void handle(HttpExchange ex) throws IOException {
        requests.incrementAndGet();
        try (ex) {
            try {
                if (token != null) {
                    String auth = ex.getRequestHeaders().getFirst("Authorization");
                    if (auth == null || !java.security.MessageDigest.isEqual(("Bearer " + token).getBytes(StandardCharsets.UTF_8),
                            auth.getBytes(StandardCharsets.UTF_8))) {
                        throw new HttpError(401, "missing or wrong token: send 'Authorization: Bearer TOKEN'");
                    }
                }
                String path = ex.getRequestURI().getPath(), method = ex.getRequestMethod();
                if (ROUTES.containsKey(path)) requireMethod(method, ROUTES.get(path));
                switch (path) {
                    case "/v1/ready" -> send(ex, 200, "{\"ready\": true, \"queued\": " + engineThread.getQueue().size() + "}");
                    case "/v1/backends" -> send(ex, 200, backends());
                    case "/v1/metrics" -> sendText(ex, 200, metrics());
                    case "/v1/openapi.json" -> send(ex, 200, openApi());
                    case "/v1/health" -> {
                        Map<String, Object> body = new LinkedHashMap<>();
                        body.put("status", "ok");
                        body.put("backend", backend.name());
                        body.put("queued", engineThread.getQueue().size());
                        send(ex, 200, toJson(body));
                    }
                    case "/v1/score" -> {
                        Map<String, Object> req = parseBody(ex);
                        send(ex, 200, score(req));
                    }
                    default -> throw new HttpError(404, "no route " + path + " (routes: " + String.join(", ",
                            ROUTES.entrySet().stream().map(r -> r.getValue() + " " + r.getKey()).sorted().toList()) + ")");
                }
            } catch (HttpError e) {
                errors.computeIfAbsent(e.status, k -> new java.util.concurrent.atomic.AtomicLong()).incrementAndGet();
                send(ex, e.status, error(e.getMessage()));
            } catch (RuntimeException e) {
                errors.computeIfAbsent(500, k -> new java.util.concurrent.atomic.AtomicLong()).incrementAndGet();
                send(ex, 500, error("internal error: " + e));
            }
        }
    }

    /** Every route and its method; the OpenAPI document (resource openapi.json) must describe exactly these (ServeTest). */
    public static final Map<String, String> ROUTES = Map.of("/v1/health", "GET", "/v1/ready", "GET", "/v1/backends", "GET",
            "/v1/metrics", "GET", "/v1/openapi.json", "GET", "/v1/score", "POST");

    private final Map<Integer, java.util.concurrent.atomic.AtomicLong> errors = new java.util.concurrent.ConcurrentHashMap<>();
    private final java.util.concurrent.atomic.AtomicLong scored = new java.util.concurrent.atomic.AtomicLong();
    private final java.util.concurrent.atomic.DoubleAdder scoreSeconds = new java.util.concurrent.atomic.DoubleAdder();
    private String backendsJson;

    /** Prometheus text format (0.0.4). */
    private String metrics() {
        StringBuilder sb = new StringBuilder();
        sb.append("# HELP wrcor_requests_total HTTP requests received.\n# TYPE wrcor_requests_total counter\n");
        sb.append("wrcor_requests_total ").append(requests.get()).append('\n');
        sb.append("# HELP wrcor_errors_total Requests answered with an error status.\n# TYPE wrcor_errors_total counter\n");
        new java.util.TreeMap<>(errors).forEach((k, v) -> sb.append("wrcor_errors_total{status=\"").append(k).append("\"} ").append(v.get()).append('\n'));
        sb.append("# HELP wrcor_architectures_scored_total Architectures scored.\n# TYPE wrcor_architectures_scored_total counter\n");
        sb.append("wrcor_architectures_scored_total ").append(scored.get()).append('\n');
        sb.append("# HELP wrcor_queue_depth Scoring requests waiting for the engine.\n# TYPE wrcor_queue_depth gauge\n");
        sb.append("wrcor_queue_depth ").append(engineThread.getQueue().size()).append('\n');
        sb.append("# HELP wrcor_architecture_seconds Seconds per scored architecture.\n# TYPE wrcor_architecture_seconds summary\n");
        sb.append("wrcor_architecture_seconds_sum ").append(scoreSeconds.sum()).append('\n');
        sb.append("wrcor_architecture_seconds_count ").append(scored.get()).append('\n');
        return sb.toString();
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

    private static void requireMethod(String method, String want) {
        if (!method.equals(want)) throw new HttpError(405, "method " + method + " not allowed here; use " + want);
    }

    private Map<String, Object> parseBody(HttpExchange ex) throws IOException {
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
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().decode(java.nio.ByteBuffer.wrap(body)).toString();
        } catch (java.nio.charset.CharacterCodingException e) {
            throw new HttpError(400, "body is not valid UTF-8");
        }
        try {
            return Json.parseObject(text);
        } catch (RuntimeException e) {
            throw new HttpError(400, "body is not a JSON object: " + e.getMessage());
        }
    }

    /** POST /v1/score: validated in full before any work, then run on the engine thread. */
    private String score(Map<String, Object> req) {
        for (String k : req.keySet()) {
            if (!List.of("space", "archs", "proxies", "batch", "seed", "channels", "cells", "classes").contains(k)) {
                throw new HttpError(400, "unknown field '" + k + "' (fields: space, archs, proxies, batch, seed, channels, cells, classes)");
            }
        }
        SearchSpace space;
        try {
            space = SearchSpaces.get(string(req, "space", "nb201"));
        } catch (RuntimeException e) {
            throw new HttpError(400, "space: " + e.getMessage());
        }
        Object archsValue = req.get("archs");
        if (!(archsValue instanceof List<?> archList)) throw new HttpError(400, "archs: expected a list of architecture strings");
        if (archList.isEmpty()) throw new HttpError(400, "archs: the list is empty");
        if (archList.size() > limits.maxArchs()) throw new HttpError(413, "archs: " + archList.size() + " architectures, over the limit of " + limits.maxArchs() + " per request");
        List<Arch> archs = new ArrayList<>();
        for (int i = 0; i < archList.size(); i++) {
            if (!(archList.get(i) instanceof String s)) throw new HttpError(400, "archs[" + i + "]: expected a string");
            try {
                archs.add(space.parse(s));
            } catch (RuntimeException e) {
                throw new HttpError(400, "archs[" + i + "]: " + e.getMessage());
            }
        }
        List<Proxy> proxies;
        Object p = req.get("proxies");
        if (p == null) {
            proxies = List.of(Proxy.WRCOR);
        } else {
            if (!(p instanceof List<?> pl) || pl.isEmpty()) throw new HttpError(400, "proxies: expected a non-empty list of proxy names");
            List<String> names = new ArrayList<>();
            for (int i = 0; i < pl.size(); i++) {
                if (!(pl.get(i) instanceof String s)) throw new HttpError(400, "proxies[" + i + "]: expected a string");
                names.add(s);
            }
            try {
                proxies = Proxy.parseList(String.join(",", names));
            } catch (RuntimeException e) {
                throw new HttpError(400, "proxies: " + e.getMessage());
            }
        }
        NetSize d = space.defaultSize();
        int batchSize = integer(req, "batch", 64, 2, limits.maxBatch());
        long seed = integer(req, "seed", 0, 0, Integer.MAX_VALUE);
        NetSize net = new NetSize(integer(req, "channels", d.channels(), 1, 4096), integer(req, "cells", d.cells(), 1, 64),
                integer(req, "classes", d.classes(), 1, 1_000_000), d.imageSize());
        for (Arch a : archs) {
            long need = Engine.memoryNeeded(space.build(a, net, true), batchSize, proxies);
            if (need > Engine.memoryBudget()) {
                throw new HttpError(413, "architecture " + a + " needs about " + need / 1_000_000_000.0 + " GB at batch " + batchSize
                        + ", over this server's " + Engine.memoryBudget() / 1_000_000_000.0 + " GB");
            }
        }
        Future<String> f;
        try {
            f = engineThread.submit(() -> run(space, net, batchSize, seed, archs, proxies));
        } catch (RejectedExecutionException e) {
            throw new HttpError(429, "the scoring queue is full (" + limits.maxQueue() + " requests); retry later");
        }
        try {
            return f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new HttpError(503, "interrupted");
        } catch (ExecutionException e) {
            if (e.getCause() instanceof IllegalArgumentException iae) throw new HttpError(400, iae.getMessage());
            throw new IllegalStateException(e.getCause());
        }
    }

    /** On the engine thread: the rows, as the CLI prints them. */
    private String run(SearchSpace space, NetSize net, int batchSize, long seed, List<Arch> archs, List<Proxy> proxies) {
        Engine engine = engines.computeIfAbsent(space.name() + " " + net.key(), k -> new Engine(backend, space, net));
        Batch batch = batches.computeIfAbsent(space.name() + " " + net.key() + " " + batchSize + " " + seed,
                k -> Cifar10.synthetic(batchSize, net.classes(), net.imageSize(), seed, arena));
        String run = new RunKey(space.name(), net.key(), RunKey.initWeights(seed), RunKey.input(batch), RunKey.PRECISION).text();
        StringBuilder sb = new StringBuilder("{\"results\": [");
        for (int i = 0; i < archs.size(); i++) {
            long t0 = System.nanoTime();
            Scorer.Result r = engine.score(archs.get(i), seed, batch, proxies);
            scored.incrementAndGet();
            scoreSeconds.add((System.nanoTime() - t0) / 1e9);
            Map<String, Double> scores = new LinkedHashMap<>();
            for (Proxy p : proxies) scores.put(p.label, r.score(p));
            ResultsFile.Row row = new ResultsFile.Row(archs.get(i).toString(), scores, (System.nanoTime() - t0) / 1e9, run,
                    ResultsFile.currentDefs(scores.keySet()));
            sb.append(i == 0 ? "" : ", ").append(row.toJson());
        }
        return sb.append("]}").toString();
    }

    private static String string(Map<String, Object> req, String key, String dflt) {
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

    private static String error(String message) {
        return "{\"error\": " + Json.quote(message) + "}";
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
        ex.sendResponseHeaders(status, b.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(b);
        }
    }

    /** Stops accepting, lets the running request finish (up to 30 s), then frees the engines. */
    @Override
    public void close() {
        http.stop(1);
        engineThread.shutdown();
        try {
            engineThread.awaitTermination(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        for (Engine e : engines.values()) e.close();
        arena.close();
    }
}
