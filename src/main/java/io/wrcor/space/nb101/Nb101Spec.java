package io.wrcor.space.nb101;

import io.wrcor.space.Arch;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A NAS-Bench-101 cell, pruned (every vertex lies on a path from the input to the output): n
 * vertices (2..7), an upper-triangular adjacency matrix ({@code edge(i, j)}: i feeds j), and the op of
 * each interior vertex. Written as the published tables do: the matrix's rows joined by ';', a space,
 * the ops joined by ';' ({@code input} first, {@code output} last). {@link #parse} prunes, so two
 * specs with the same pruned form are one architecture.
 */
public final class Nb101Spec implements Arch {
    public static final int MAX_VERTICES = 7, MAX_EDGES = 9;

    private final int n;
    private final boolean[][] adj;
    private final Nb101Op[] ops; // interior vertices 1..n-2 at index 0..n-3
    private final String text;

    /** A spec already pruned and checked; use {@link #of} or {@link #parse}. */
    private Nb101Spec(boolean[][] adj, Nb101Op[] ops) {
        this.n = adj.length;
        this.adj = adj;
        this.ops = ops;
        this.text = format(adj, ops);
    }

    public int vertices() {
        return n;
    }

    public boolean edge(int from, int to) {
        return adj[from][to];
    }

    /** The op of interior vertex v (1..n-2). */
    public Nb101Op op(int v) {
        if (v <= 0 || v >= n - 1) throw new IllegalArgumentException("vertex " + v + " is not interior");
        return ops[v - 1];
    }

    public int edges() {
        int e = 0;
        for (boolean[] row : adj) for (boolean b : row) if (b) e++;
        return e;
    }

    /**
     * The published port adds the input projection into the output in place; when exactly one
     * interior vertex feeds the output, it is a conv, and the input feeds the output, that add
     * overwrites a ReLU output saved for backward and every proxy of the published code raises.
     */
    public boolean publishedBackwardFails() {
        if (n < 3 || !adj[0][n - 1]) return false;
        int feeders = 0, last = -1;
        for (int v = 1; v < n - 1; v++) if (adj[v][n - 1]) { feeders++; last = v; }
        return feeders == 1 && op(last) != Nb101Op.MAXPOOL3X3;
    }

    /** Parses "rows ops" (e.g. {@code 0110;0001;0001;0000 input;conv3x3-bn-relu;maxpool3x3;output}) and prunes it. */
    public static Nb101Spec parse(String s) {
        String where = "spec '" + s + "'";
        if (s == null || s.isBlank()) throw new IllegalArgumentException("empty spec");
        String[] parts = s.strip().split("\\s+");
        if (parts.length != 2) {
            throw new IllegalArgumentException(where + ": expected the matrix rows joined by ';', a space, and the ops joined by ';'");
        }
        String[] rows = parts[0].split(";", -1), opNames = parts[1].split(";", -1);
        int n = rows.length;
        if (n < 2) throw new IllegalArgumentException(where + ": a cell has at least 2 vertices (input and output), got " + n);
        if (n > MAX_VERTICES) throw new IllegalArgumentException(where + ": " + n + " vertices, NAS-Bench-101 allows at most " + MAX_VERTICES);
        boolean[][] adj = new boolean[n][n];
        for (int i = 0; i < n; i++) {
            if (rows[i].length() != n) {
                throw new IllegalArgumentException(where + ": row " + (i + 1) + " '" + rows[i] + "' has " + rows[i].length() + " entries, the matrix is "
                        + n + " x " + n);
            }
            for (int j = 0; j < n; j++) {
                char c = rows[i].charAt(j);
                if (c != '0' && c != '1') throw new IllegalArgumentException(where + ": row " + (i + 1) + " has '" + c + "', entries are 0 or 1");
                if (c == '1' && j <= i) {
                    throw new IllegalArgumentException(where + ": edge " + i + " -> " + j + " is not upper triangular (a cell is a DAG in"
                            + " vertex order)");
                }
                adj[i][j] = c == '1';
            }
        }
        if (opNames.length != n) throw new IllegalArgumentException(where + ": " + opNames.length + " ops for " + n + " vertices");
        if (!opNames[0].equals("input")) throw new IllegalArgumentException(where + ": the first op must be 'input', got '" + opNames[0] + "'");
        if (!opNames[n - 1].equals("output")) {
            throw new IllegalArgumentException(where + ": the last op must be 'output', got '" + opNames[n - 1] + "'");
        }
        Nb101Op[] ops = new Nb101Op[n - 2];
        for (int v = 1; v < n - 1; v++) {
            try {
                ops[v - 1] = Nb101Op.parse(opNames[v]);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(where + ": vertex " + v + ": " + e.getMessage());
            }
        }
        return of(adj, ops, where);
    }

    /**
     * Prunes as NAS-Bench-101's ModelSpec does (a vertex not both reachable from the input and on a
     * path to the output is removed with its row, column and op) and checks validity (the input
     * reaches the output; at most 9 edges).
     */
    public static Nb101Spec of(boolean[][] adj, Nb101Op[] interiorOps, String where) {
        int n = adj.length;
        boolean[] fromInput = new boolean[n], toOutput = new boolean[n];
        fromInput[0] = true;
        for (int j = 1; j < n; j++) for (int i = 0; i < j; i++) if (fromInput[i] && adj[i][j]) fromInput[j] = true;
        toOutput[n - 1] = true;
        for (int i = n - 2; i >= 0; i--) for (int j = i + 1; j < n; j++) if (toOutput[j] && adj[i][j]) toOutput[i] = true;
        if (!fromInput[n - 1]) throw new IllegalArgumentException(where + ": the input does not reach the output (an invalid cell)");
        List<Integer> keep = new ArrayList<>();
        for (int v = 0; v < n; v++) if (fromInput[v] && toOutput[v]) keep.add(v);
        int m = keep.size();
        boolean[][] p = new boolean[m][m];
        Nb101Op[] ops = new Nb101Op[m - 2];
        for (int a = 0; a < m; a++) {
            for (int b = 0; b < m; b++) p[a][b] = adj[keep.get(a)][keep.get(b)];
            if (a > 0 && a < m - 1) ops[a - 1] = interiorOps[keep.get(a) - 1];
        }
        Nb101Spec spec = new Nb101Spec(p, ops);
        if (spec.edges() > MAX_EDGES) {
            throw new IllegalArgumentException(where + ": " + spec.edges() + " edges after pruning, NAS-Bench-101 allows at most " + MAX_EDGES);
        }
        return spec;
    }

    private static String format(boolean[][] adj, Nb101Op[] ops) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < adj.length; i++) {
            if (i > 0) sb.append(';');
            for (boolean b : adj[i]) sb.append(b ? '1' : '0');
        }
        sb.append(" input");
        for (Nb101Op op : ops) sb.append(';').append(op.label);
        return sb.append(";output").toString();
    }

    @Override
    public String toString() {
        return text;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Nb101Spec s && s.text.equals(text);
    }

    @Override
    public int hashCode() {
        return text.hashCode();
    }

    /** A copy of the (pruned) adjacency matrix. */
    boolean[][] matrix() {
        boolean[][] c = new boolean[n][];
        for (int i = 0; i < n; i++) c[i] = Arrays.copyOf(adj[i], n);
        return c;
    }
}
