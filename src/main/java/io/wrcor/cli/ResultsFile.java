package io.wrcor.cli;

import io.wrcor.util.Json;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The append-only results file: one row per architecture, written and flushed as each is scored,
 * so an interrupted run loses nothing and a rerun skips what is already there. JSON lines
 * ({@code {"arch":..., "scores":{...}, "seconds":..., "run":...}}) or CSV (arch, one column per
 * proxy, seconds, run). {@code run} names the settings a row was scored with; a rerun only reuses
 * rows of the same settings.
 */
final class ResultsFile implements AutoCloseable {
    enum Format { JSONL, CSV }

    /** One scored architecture. */
    record Row(String arch, Map<String, Double> scores, double seconds, String run) {
        String toJson() {
            StringBuilder sb = new StringBuilder("{\"arch\": ").append(Json.quote(arch)).append(", \"scores\": {");
            boolean first = true;
            for (var e : scores.entrySet()) {
                if (!first) sb.append(", ");
                first = false;
                sb.append(Json.quote(e.getKey())).append(": ").append(Json.number(e.getValue()));
            }
            return sb.append("}, \"seconds\": ").append(String.format("%.4f", seconds)).append(", \"run\": ").append(Json.quote(run))
                    .append('}').toString();
        }

        String toCsv(List<String> proxies) {
            StringBuilder sb = new StringBuilder(csvField(arch));
            for (String p : proxies) {
                Double v = scores.get(p);
                sb.append(',').append(v == null ? "" : csvNumber(v));
            }
            return sb.append(',').append(String.format("%.4f", seconds)).append(',').append(csvField(run)).toString();
        }
    }

    static String csvHeader(List<String> proxies) {
        return "arch," + String.join(",", proxies) + ",seconds,run";
    }

    private static String csvNumber(double v) {
        return Double.isNaN(v) ? "nan" : Double.isInfinite(v) ? (v > 0 ? "inf" : "-inf") : Double.toString(v);
    }

    private static String csvField(String s) {
        return s.contains(",") || s.contains("\"") ? "\"" + s.replace("\"", "\"\"") + "\"" : s;
    }

    static Format formatOf(String name, Path file) {
        if (name != null) {
            return switch (name) {
                case "jsonl", "json" -> Format.JSONL;
                case "csv" -> Format.CSV;
                default -> throw new UsageException("unknown format '" + name + "' (expected jsonl or csv)");
            };
        }
        return file != null && file.toString().endsWith(".csv") ? Format.CSV : Format.JSONL;
    }

    private final Path path;
    private final Format format;
    private final List<String> proxies; // CSV columns
    private final Map<String, Row> existing = new HashMap<>();
    private final BufferedWriter out;

    ResultsFile(Path path, Format format, List<String> proxies) {
        this.path = path;
        this.format = format;
        this.proxies = proxies;
        try {
            dropPartialLastLine(path);
            boolean fresh = !Files.exists(path) || Files.size(path) == 0;
            if (!fresh) readExisting();
            if (path.getParent() != null) Files.createDirectories(path.getParent());
            out = Files.newBufferedWriter(path, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
            if (fresh && format == Format.CSV) {
                out.write(csvHeader(proxies));
                out.newLine();
                out.flush();
            }
        } catch (IOException e) {
            throw new UsageException("cannot open results file " + path + ": " + e.getMessage());
        }
    }

    /** A run killed mid-write leaves a line without its newline: that row is incomplete, drop it. */
    private static void dropPartialLastLine(Path path) throws IOException {
        if (!Files.exists(path) || Files.size(path) == 0) return;
        byte[] all = Files.readAllBytes(path);
        if (all[all.length - 1] == '\n') return;
        int keep = all.length;
        while (keep > 0 && all[keep - 1] != '\n') keep--;
        try (var ch = java.nio.channels.FileChannel.open(path, StandardOpenOption.WRITE)) {
            ch.truncate(keep);
        }
    }

    private void readExisting() throws IOException {
        List<String> lines = Files.readAllLines(path, StandardCharsets.UTF_8);
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
                    if (!header.getFirst().equals("arch") || !header.get(header.size() - 2).equals("seconds")) {
                        throw new IllegalArgumentException("not a wrcor CSV header");
                    }
                    if (!header.equals(splitCsv(csvHeader(proxies)))) {
                        throw new UsageException("results file " + path + " has columns " + String.join(",", header)
                                + "; this run writes " + csvHeader(proxies) + " (use another --out or the same --proxies)");
                    }
                    continue;
                } else {
                    r = parseCsv(header, line);
                }
                existing.merge(r.arch() + "\u0000" + r.run(), r, ResultsFile::union);
            } catch (IllegalArgumentException | IndexOutOfBoundsException | ClassCastException | NullPointerException e) {
                throw new UsageException("results file " + path + ", line " + (i + 1) + " is not a wrcor result row: " + e.getMessage());
            }
        }
    }

    private static Row parseJson(String line) {
        Map<String, Object> m = Json.parseObject(line);
        @SuppressWarnings("unchecked")
        Map<String, Object> s = (Map<String, Object>) m.get("scores");
        Map<String, Double> scores = new LinkedHashMap<>();
        for (var e : s.entrySet()) scores.put(e.getKey(), Json.toDouble(e.getValue()));
        return new Row((String) m.get("arch"), scores, Json.toDouble(m.get("seconds")), (String) m.get("run"));
    }

    private static Row parseCsv(List<String> header, String line) {
        List<String> f = splitCsv(line);
        if (f.size() != header.size()) throw new IllegalArgumentException(f.size() + " fields, header has " + header.size());
        Map<String, Double> scores = new LinkedHashMap<>();
        for (int i = 1; i < header.size() - 2; i++) {
            if (!f.get(i).isEmpty()) scores.put(header.get(i), Json.toDouble(numberOrWord(f.get(i))));
        }
        return new Row(f.getFirst(), scores, Double.parseDouble(f.get(f.size() - 2)), f.getLast());
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
    static Row union(Row earlier, Row later) {
        Map<String, Double> scores = new LinkedHashMap<>(earlier.scores());
        scores.putAll(later.scores());
        return new Row(later.arch(), scores, earlier.seconds() + later.seconds(), later.run());
    }

    /** Every score the file holds for this arch and run (rows merged, later ones winning), or null. */
    Row known(String arch, String run) {
        return existing.get(arch + "\u0000" + run);
    }

    void append(Row r) {
        try {
            out.write(format == Format.JSONL ? r.toJson() : r.toCsv(proxies));
            out.newLine();
            out.flush();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public void close() throws IOException {
        out.close();
    }
}
