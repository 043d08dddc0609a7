package io.wrcor.results;

import io.wrcor.proxy.Proxy;
import io.wrcor.util.Files2;
import io.wrcor.util.Json;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The append-only results file: one row per architecture, written and flushed as each is scored,
 * so an interrupted run loses nothing and a rerun skips what is already there. JSON lines
 * ({@code {"arch":..., "scores":{...}, "seconds":..., "run":..., "defs":{...}}}) or CSV (arch, one
 * column per proxy, seconds, run, defs).
 *
 * <p>A stored score is reused only when both keys match: {@code run}, the {@link RunKey} of
 * everything that determined it (space, network size, the weights' content or init seed, the input
 * batch's content, precision), and {@code defs}, the version of each proxy's definition it was
 * computed with ({@link Proxy#version}). Rows of other settings stay in the file untouched.
 *
 * <p>The file is held with an exclusive advisory lock while open: a second process (or a second
 * handle in this one) on the same file is refused with a clear message instead of computing every
 * architecture twice.
 */
public final class ResultsFile implements AutoCloseable {
    public enum Format { JSONL, CSV }

    /**
     * One scored architecture; {@code defs} gives the definition version of each score; {@code hash},
     * where the space has one (NAS-Bench-101's graph hash), the key that joins the row with the
     * benchmark's tables (JSON lines only).
     */
    public record Row(String arch, Map<String, Double> scores, double seconds, String run, Map<String, Integer> defs, String hash) {
        public Row(String arch, Map<String, Double> scores, double seconds, String run, Map<String, Integer> defs) {
            this(arch, scores, seconds, run, defs, null);
        }

        public Row withHash(String h) {
            return new Row(arch, scores, seconds, run, defs, h);
        }

        public String toJson() {
            StringBuilder sb = new StringBuilder("{\"arch\": ").append(Json.quote(arch)).append(", \"scores\": {");
            boolean first = true;
            for (var e : scores.entrySet()) {
                if (!first) sb.append(", ");
                first = false;
                sb.append(Json.quote(e.getKey())).append(": ").append(Json.number(e.getValue()));
            }
            sb.append("}, \"seconds\": ").append(String.format("%.4f", seconds)).append(", \"run\": ").append(Json.quote(run))
                    .append(", \"defs\": {");
            first = true;
            for (var e : defs.entrySet()) {
                if (!first) sb.append(", ");
                first = false;
                sb.append(Json.quote(e.getKey())).append(": ").append(e.getValue());
            }
            sb.append('}');
            if (hash != null) sb.append(", \"hash\": ").append(Json.quote(hash));
            return sb.append('}').toString();
        }

        public String toCsv(List<String> proxies) {
            StringBuilder sb = new StringBuilder(csvField(arch));
            for (String p : proxies) {
                Double v = scores.get(p);
                sb.append(',').append(v == null ? "" : csvNumber(v));
            }
            List<String> d = new ArrayList<>();
            for (var e : defs.entrySet()) d.add(e.getKey() + ":" + e.getValue());
            return sb.append(',').append(String.format("%.4f", seconds)).append(',').append(csvField(run)).append(',')
                    .append(csvField(String.join(";", d))).toString();
        }
    }

    /** The definition version of every proxy of {@code scores}, as this engine computes them. */
    public static Map<String, Integer> currentDefs(Iterable<String> proxies) {
        Map<String, Integer> d = new LinkedHashMap<>();
        for (String p : proxies) d.put(p, Proxy.parse(p).version);
        return d;
    }

    public static String csvHeader(List<String> proxies) {
        return "arch," + String.join(",", proxies) + ",seconds,run,defs";
    }

    private static String csvNumber(double v) {
        return Double.isNaN(v) ? "nan" : Double.isInfinite(v) ? (v > 0 ? "inf" : "-inf") : Double.toString(v);
    }

    private static String csvField(String s) {
        return s.contains(",") || s.contains("\"") ? "\"" + s.replace("\"", "\"\"") + "\"" : s;
    }

    public static Format formatOf(String name, Path file) {
        if (name != null) {
            return switch (name) {
                case "jsonl", "json" -> Format.JSONL;
                case "csv" -> Format.CSV;
                default -> throw new IllegalArgumentException("unknown format '" + name + "' (expected jsonl or csv)");
            };
        }
        return file != null && file.toString().endsWith(".csv") ? Format.CSV : Format.JSONL;
    }

    private final Path path;
    private final Format format;
    private final List<String> proxies; // CSV columns
    private final String run;
    private final Map<String, Row> existing = new HashMap<>();
    private final FileChannel channel;
    private final FileLock lock;
    private final Path key;
    private int otherSettings, staleScores;

    /**
     * Opens (or creates) the file for rows of settings {@code run}, taking its lock, dropping a row
     * cut off by a crash, and reading what is stored for this run.
     */
    public ResultsFile(Path path, Format format, List<String> proxies, String run) {
        this.path = path;
        this.format = format;
        this.proxies = proxies;
        this.run = run;
        if (Files.exists(path)) Files2.requireRegularFile("results file", path); // a folder, or a FIFO whose read would block
        // in this JVM, a second channel on a locked file must not even be opened: closing it would
        // release the first one's lock (POSIX locks belong to the process)
        this.key = path.toAbsolutePath().normalize();
        if (OPEN.putIfAbsent(key, Boolean.TRUE) != null) throw inUse(path);
        FileChannel ch = null;
        try {
            if (path.getParent() != null) Files.createDirectories(path.getParent());
            ch = FileChannel.open(path, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
            FileLock l;
            try {
                l = ch.tryLock();
            } catch (OverlappingFileLockException e) {
                l = null;
            }
            if (l == null) throw inUse(path);
            channel = ch;
            lock = l;
            byte[] all = readAll(ch);
            int keep = Files2.wholeLines(all); // a run killed mid-write leaves a row without its newline
            if (keep < all.length) ch.truncate(keep);
            boolean fresh = keep == 0;
            if (!fresh) readExisting(Files2.decode("results file", path, java.util.Arrays.copyOf(all, keep)));
            ch.position(keep);
            if (fresh && format == Format.CSV) write(csvHeader(proxies));
        } catch (IOException e) {
            close(ch);
            OPEN.remove(key);
            throw Files2.error("results file", path, e);
        } catch (RuntimeException e) {
            close(ch);
            OPEN.remove(key);
            throw e;
        }
    }

    /** Results files open in this JVM. */
    private static final java.util.concurrent.ConcurrentHashMap<Path, Boolean> OPEN = new java.util.concurrent.ConcurrentHashMap<>();

    private static IllegalArgumentException inUse(Path path) {
        return new IllegalArgumentException("results file " + path + " is in use by another wrcor run (it holds the file's lock); wait for it to finish,"
                + " or give another --out");
    }

    private static void close(FileChannel ch) {
        if (ch == null) return;
        try {
            ch.close();
        } catch (IOException ignored) {
            // already failing; the first error is the one to report
        }
    }

    private static byte[] readAll(FileChannel ch) throws IOException {
        long size = ch.size();
        if (size > Integer.MAX_VALUE - 16) throw new IOException("larger than 2 GB");
        ByteBuffer b = ByteBuffer.allocate((int) size);
        while (b.hasRemaining() && ch.read(b, b.position()) >= 0) {
            // read until full
        }
        return b.array();
    }

    private void readExisting(String text) {
        List<String> lines = text.lines().toList();
        List<String> header = null;
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i);
            if (line.isBlank()) continue;
            try {
                Row r;
                if (format == Format.JSONL) {
                    r = parseJson(line);
                } else if (header == null) {
                    header = splitCsv(line);
                    if (!header.getFirst().equals("arch") || !header.contains("seconds")) {
                        throw new IllegalArgumentException("not a wrcor CSV header");
                    }
                    if (!header.equals(splitCsv(csvHeader(proxies)))) {
                        throw new IllegalArgumentException("results file " + path + " has columns " + String.join(",", header)
                                + "; this run writes " + csvHeader(proxies) + " (use another --out, the same --proxies, or JSON lines)");
                    }
                    continue;
                } else {
                    r = parseCsv(header, line);
                }
                if (!run.equals(r.run())) {
                    otherSettings++;
                    continue;
                }
                Row current = currentOnly(r);
                staleScores += r.scores().size() - current.scores().size();
                existing.merge(r.arch(), current, ResultsFile::union);
            } catch (IllegalArgumentException | IndexOutOfBoundsException | ClassCastException | NullPointerException e) {
                if (e.getMessage() != null && e.getMessage().startsWith("results file ")) throw e;
                // the reader's own messages say what is wrong; the JVM's (a cast, a null) would name Java classes
                String why = e instanceof IllegalArgumentException && e.getMessage() != null ? ": " + Json.clip(e.getMessage()) : "";
                throw new IllegalArgumentException("results file " + path + ", line " + (i + 1) + " is not a wrcor result row" + why);
            }
        }
    }

    /** The row's scores whose definition is the one this engine computes (unknown proxies and old versions dropped). */
    private static Row currentOnly(Row r) {
        Map<String, Double> scores = new LinkedHashMap<>();
        Map<String, Integer> defs = new LinkedHashMap<>();
        for (var e : r.scores().entrySet()) {
            Integer v = r.defs().get(e.getKey());
            Proxy p = Proxy.find(e.getKey());
            if (v != null && p != null && p.version == v) {
                scores.put(e.getKey(), e.getValue());
                defs.put(e.getKey(), v);
            }
        }
        return new Row(r.arch(), scores, r.seconds(), r.run(), defs);
    }

    private static Row parseJson(String line) {
        Map<String, Object> m = Json.parseObject(line);
        if (!(m.get("arch") instanceof String arch)) throw new IllegalArgumentException("no \"arch\" string");
        if (!(m.get("scores") instanceof Map<?, ?> s)) throw new IllegalArgumentException("no \"scores\" object");
        if (!(m.get("run") instanceof String run)) throw new IllegalArgumentException("no \"run\" string");
        Map<String, Double> scores = new LinkedHashMap<>();
        for (var e : s.entrySet()) scores.put((String) e.getKey(), Json.toDouble(e.getValue()));
        Map<String, Integer> defs = new LinkedHashMap<>();
        if (m.get("defs") instanceof Map<?, ?> d) {
            for (var e : d.entrySet()) {
                if (!(e.getValue() instanceof Double v)) throw new IllegalArgumentException("defs of " + Json.clip(String.valueOf(e.getKey())) + " is not a number");
                defs.put((String) e.getKey(), v.intValue());
            }
        }
        if (!m.containsKey("seconds")) throw new IllegalArgumentException("no \"seconds\"");
        return new Row(arch, scores, Json.toDouble(m.get("seconds")), run, defs);
    }

    private static Row parseCsv(List<String> header, String line) {
        List<String> f = splitCsv(line);
        if (f.size() != header.size()) throw new IllegalArgumentException(f.size() + " fields, header has " + header.size());
        Map<String, Double> scores = new LinkedHashMap<>();
        int seconds = header.indexOf("seconds");
        for (int i = 1; i < seconds; i++) {
            if (!f.get(i).isEmpty()) scores.put(header.get(i), Json.toDouble(numberOrWord(f.get(i))));
        }
        Map<String, Integer> defs = new LinkedHashMap<>();
        for (String d : f.get(seconds + 2).split(";")) {
            int colon = d.lastIndexOf(':');
            if (colon > 0) defs.put(d.substring(0, colon), Integer.parseInt(d.substring(colon + 1)));
        }
        return new Row(f.getFirst(), scores, Double.parseDouble(f.get(seconds)), f.get(seconds + 1), defs);
    }

    private static Object numberOrWord(String s) {
        return switch (s) {
            case "nan", "inf", "-inf" -> s;
            default -> Double.parseDouble(s);
        };
    }

    private static List<String> splitCsv(String line) {
        List<String> out = new ArrayList<>();
        StringBuilder cur = new StringBuilder();
        boolean quoted = false;
        for (int i = 0; i < line.length(); i++) {
            char c = line.charAt(i);
            if (quoted) {
                if (c == '"' && i + 1 < line.length() && line.charAt(i + 1) == '"') { cur.append('"'); i++; }
                else if (c == '"') quoted = false;
                else cur.append(c);
            } else if (c == '"') quoted = true;
            else if (c == ',') { out.add(cur.toString()); cur.setLength(0); }
            else cur.append(c);
        }
        out.add(cur.toString());
        return out;
    }

    /** Two rows of one architecture and run: the later one's scores win. */
    public static Row union(Row earlier, Row later) {
        Map<String, Double> scores = new LinkedHashMap<>(earlier.scores());
        scores.putAll(later.scores());
        Map<String, Integer> defs = new TreeMap<>(earlier.defs());
        defs.putAll(later.defs());
        return new Row(later.arch(), scores, earlier.seconds() + later.seconds(), later.run(), new LinkedHashMap<>(defs));
    }

    /** Every current score the file holds for this arch under this file's run (rows merged, later ones winning), or null. */
    public Row known(String arch) {
        return existing.get(arch);
    }

    /** Rows of the file scored with other settings (not reused). */
    public int otherSettings() {
        return otherSettings;
    }

    /** Stored scores of this run computed with an older definition of their proxy (not reused). */
    public int staleScores() {
        return staleScores;
    }

    public Path path() {
        return path;
    }

    public void append(Row r) {
        if (!r.run().equals(run)) throw new IllegalArgumentException("row of run '" + r.run() + "' appended to a file opened for '" + run + "'");
        try {
            write(format == Format.JSONL ? r.toJson() : r.toCsv(proxies));
        } catch (IOException e) {
            throw new IllegalStateException("cannot write results file " + path + ": " + Files2.reason(e), e);
        }
    }

    private void write(String line) throws IOException {
        ByteBuffer b = ByteBuffer.wrap((line + "\n").getBytes(StandardCharsets.UTF_8));
        while (b.hasRemaining()) channel.write(b);
    }

    @Override
    public void close() throws IOException {
        try {
            if (lock.isValid()) lock.release();
        } finally {
            try {
                channel.close();
            } finally {
                OPEN.remove(key);
            }
        }
    }
}
