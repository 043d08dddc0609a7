package io.wrcor.cli;

import io.wrcor.backend.Backend;
import io.wrcor.serve.Server;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.concurrent.CountDownLatch;

/** {@code wrcor serve}: the HTTP/JSON service (see {@link Server}); runs until SIGTERM or SIGINT. */
final class ServeCommand {
    private ServeCommand() {
    }

    static void run(String[] argv, PrintStream out, PrintStream err) {
        Args a = new Args(argv, 1, Set.of("--host", "--port", "--token-file", "--backend", "--threads", "--data-dir", "--in-flight", "--devices"), Set.of());
        String host = a.get("--host", "127.0.0.1");
        int port = a.getInt("--port", 8080, 0, 65535);
        String token = null;
        if (a.has("--token-file")) {
            Path f = Path.of(a.get("--token-file", ""));
            try {
                token = io.wrcor.util.Files2.readText("token file", f, 4096).strip();
            } catch (IllegalArgumentException e) {
                throw new UsageException(e.getMessage());
            }
            if (token.isEmpty() || token.chars().anyMatch(c -> c <= ' ')) throw new UsageException("token file " + f + " must hold one token without spaces");
            if (token.length() < Server.MIN_TOKEN_LENGTH) {
                throw new UsageException("token file " + f + ": the token has " + token.length() + " characters; use at least "
                        + Server.MIN_TOKEN_LENGTH + " (e.g. head -c 24 /dev/urandom | base64)");
            }
        }
        java.util.List<Backend> devices = Session.devices(a, err);
        Backend backend = devices.getFirst();
        Server server;
        try {
            Path dataDir = Path.of(a.get("--data-dir", "wrcor-data"));
            int inFlight = a.has("--in-flight") ? a.getInt("--in-flight", 1, 1, 64) : devices.size();
            server = new Server(devices, new Server.Options(host, port, token, Server.Limits.DEFAULT, dataDir, inFlight,
                    space -> Defaults.groundTruth(null, space)));
        } catch (IllegalArgumentException e) {
            devices.forEach(Session::close);
            throw new UsageException(e.getMessage());
        } catch (IOException e) {
            devices.forEach(Session::close);
            throw new UsageException("cannot listen on " + host + ":" + port + ": " + e.getMessage());
        }
        // SIGTERM and SIGINT end the wait below: the server stops accepting, finishes the running request,
        // and the command returns normally (exit 0)
        CountDownLatch stop = new CountDownLatch(1);
        for (String sig : new String[]{"TERM", "INT"}) sun.misc.Signal.handle(new sun.misc.Signal(sig), s -> stop.countDown());
        err.printf("wrcor: serving on http://%s:%d (%s, %s)%s; stop with SIGTERM%n", host, server.port(), backend.name(),
                "data directory " + a.get("--data-dir", "wrcor-data"), token != null ? ", token required" : ", loopback only");
        if (server.resumedJobs() > 0) err.printf("wrcor: resumed %d unfinished jobs%n", server.resumedJobs());
        err.flush();
        try {
            stop.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            err.println("wrcor: stopping: no new requests; running jobs stop where they are and resume on the next start");
            server.close();
            devices.forEach(Session::close);
        }
    }
}
