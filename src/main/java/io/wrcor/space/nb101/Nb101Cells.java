package io.wrcor.space.nb101;

import io.wrcor.util.CacheDir;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;

/**
 * The 423,624 distinct cells of the NAS-Bench-101 dataset, enumerated as its generator enumerated
 * them: for n = 2..7 vertices, every upper-triangular matrix in the generator's bit order (bit
 * x + y(y-1)/2 is the edge x -> y) with at most 9 edges and every vertex on a path from the input to
 * the output, then every labelling of the interior vertices (the last vertex varying fastest); a
 * cell is kept when its graph hash (NAS-Bench-101's iterated MD5 hash of in- and out-degrees, labels
 * and neighbours) has not been seen. The count is the dataset's (423,624), so the hash is NAS-Bench-101's;
 * the form kept for a class is the first in this order, which for about a fifth of the classes is not
 * the form the dataset's tables print (the generator's exact order is not reproduced), so lookups in
 * a table go by {@link #hash}, not by the string. The list takes about 45 s to build on two cores
 * and is cached in wrcor's cache folder.
 */
public final class Nb101Cells {
    public static final int COUNT = 423_624;
    private static final String CACHE = "nb101-cells-v1.bin";
    private static volatile long[] cells;

    private Nb101Cells() {
    }

    /** Every cell, encoded (see {@link #decode}); built or read from the cache on first use. */
    public static long[] all() {
        long[] c = cells;
        if (c == null) {
            synchronized (Nb101Cells.class) {
                if (cells == null) cells = load();
                c = cells;
            }
        }
        return c;
    }

    private static final ThreadLocal<Hasher> HASHER = ThreadLocal.withInitial(Hasher::new);

    /** NAS-Bench-101's graph hash of a spec: equal exactly for isomorphic cells (same graph, same ops). */
    public static String hash(Nb101Spec spec) {
        int n = spec.vertices();
        int[][] adj = new int[n][n];
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) adj[i][j] = spec.edge(i, j) ? 1 : 0;
        int[] labels = new int[n - 2];
        for (int v = 1; v < n - 1; v++) labels[v - 1] = spec.op(v).ordinal();
        return HASHER.get().hash(adj, n, labels);
    }

    /** Cell {@code i} of the enumeration. */
    public static Nb101Spec get(int i) {
        return decode(all()[i]);
    }

    private static long[] load() {
        Path file = CacheDir.root().resolve(CACHE);
        try {
            if (Files.size(file) == 8L * COUNT) {
                ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
                long[] c = new long[COUNT];
                b.asLongBuffer().get(c);
                return c;
            }
        } catch (IOException e) {
            // not cached yet (or unreadable): build it
        }
        System.err.println("wrcor: building the list of the 423,624 NAS-Bench-101 cells (once; cached in " + file.getParent() + ")");
        long[] c = enumerate();
        if (c.length != COUNT) throw new IllegalStateException("enumerated " + c.length + " NAS-Bench-101 cells, expected " + COUNT);
        try {
            ByteBuffer b = ByteBuffer.allocate(8 * c.length).order(ByteOrder.LITTLE_ENDIAN);
            b.asLongBuffer().put(c);
            CacheDir.writeAtomically(file, b.array());
        } catch (IOException e) {
            System.err.println("wrcor: could not cache the NAS-Bench-101 cells in " + file + " (" + e.getMessage() + "); they are rebuilt next time");
        }
        return c;
    }

    /** n in bits 0-2, the labels (2 bits each, vertex 1 first) in bits 3-12, the generator's matrix bits from bit 13. */
    static long encode(int n, long bits, int[] labels) {
        long code = n;
        for (int v = 0; v < labels.length; v++) code |= (long) labels[v] << (3 + 2 * v);
        return code | bits << 13;
    }

    public static Nb101Spec decode(long code) {
        int n = (int) (code & 7);
        long bits = code >>> 13;
        boolean[][] adj = new boolean[n][n];
        for (int y = 1; y < n; y++) for (int x = 0; x < y; x++) adj[x][y] = (bits >> (x + y * (y - 1) / 2) & 1) == 1;
        Nb101Op[] ops = new Nb101Op[n - 2];
        for (int v = 0; v < n - 2; v++) ops[v] = Nb101Op.values()[(int) (code >> (3 + 2 * v) & 3)];
        return Nb101Spec.of(adj, ops, "NAS-Bench-101 cell");
    }

    static long[] enumerate() {
        List<Long> out = new ArrayList<>(COUNT);
        Set<String> seen = new HashSet<>(2 * COUNT);
        Hasher h = new Hasher();
        for (int n = 2; n <= Nb101Spec.MAX_VERTICES; n++) {
            int pairs = n * (n - 1) / 2;
            int[][] adj = new int[n][n];
            for (long bits = 0; bits < 1L << pairs; bits++) {
                if (Long.bitCount(bits) > Nb101Spec.MAX_EDGES) continue;
                for (int y = 1; y < n; y++) for (int x = 0; x < y; x++) adj[x][y] = (int) (bits >> (x + y * (y - 1) / 2) & 1);
                if (!fullDag(adj, n)) continue;
                int[] labels = new int[n - 2];
                int total = (int) Math.pow(3, n - 2);
                for (int l = 0; l < total; l++) {
                    for (int v = n - 3, r = l; v >= 0; v--, r /= 3) labels[v] = r % 3; // the last vertex varies fastest
                    if (seen.add(h.hash(adj, n, labels))) out.add(encode(n, bits, labels));
                }
            }
        }
        long[] c = new long[out.size()];
        for (int i = 0; i < c.length; i++) c[i] = out.get(i);
        return c;
    }

    /** Every vertex but the output has an out-edge and every vertex but the input an in-edge. */
    private static boolean fullDag(int[][] adj, int n) {
        for (int v = 0; v < n - 1; v++) {
            boolean any = false;
            for (int w = 0; w < n; w++) any |= adj[v][w] == 1;
            if (!any) return false;
        }
        for (int v = 1; v < n; v++) {
            boolean any = false;
            for (int w = 0; w < n; w++) any |= adj[w][v] == 1;
            if (!any) return false;
        }
        return true;
    }

    /**
     * NAS-Bench-101's graph hash: each vertex starts as md5 of the text "(out_degree, in_degree, label)"
     * (input -1, output -2, ops 0..2); n rounds replace it by md5 of its in-neighbours' hashes
     * sorted and joined, '|', its out-neighbours' likewise, '|', its own; the fingerprint is md5 of the
     * sorted hashes written as a Python list.
     */
    static final class Hasher {
        private final MessageDigest md5;
        private final HexFormat hex = HexFormat.of();

        Hasher() {
            try {
                md5 = MessageDigest.getInstance("MD5");
            } catch (NoSuchAlgorithmException e) {
                throw new IllegalStateException(e);
            }
        }

        private String md5(String s) {
            return hex.formatHex(md5.digest(s.getBytes(StandardCharsets.UTF_8)));
        }

        String hash(int[][] adj, int n, int[] interior) {
            String[] h = new String[n];
            for (int v = 0; v < n; v++) {
                int out = 0, in = 0;
                for (int w = 0; w < n; w++) {
                    out += adj[v][w];
                    in += adj[w][v];
                }
                int label = v == 0 ? -1 : v == n - 1 ? -2 : interior[v - 1];
                h[v] = md5("(" + out + ", " + in + ", " + label + ")");
            }
            String[] ins = new String[n], outs = new String[n];
            for (int round = 0; round < n; round++) {
                String[] next = new String[n];
                for (int v = 0; v < n; v++) {
                    int ni = 0, no = 0;
                    for (int w = 0; w < n; w++) {
                        if (adj[w][v] == 1) ins[ni++] = h[w];
                        if (adj[v][w] == 1) outs[no++] = h[w];
                    }
                    Arrays.sort(ins, 0, ni);
                    Arrays.sort(outs, 0, no);
                    StringBuilder sb = new StringBuilder(33 * (ni + no + 1) + 2);
                    for (int i = 0; i < ni; i++) sb.append(ins[i]);
                    sb.append('|');
                    for (int i = 0; i < no; i++) sb.append(outs[i]);
                    sb.append('|').append(h[v]);
                    next[v] = md5(sb.toString());
                }
                h = next;
            }
            Arrays.sort(h);
            StringBuilder sb = new StringBuilder("[");
            for (int v = 0; v < n; v++) sb.append(v == 0 ? "'" : ", '").append(h[v]).append('\'');
            return md5(sb.append(']').toString());
        }
    }
}
