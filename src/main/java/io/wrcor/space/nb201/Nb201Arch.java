package io.wrcor.space.nb201;

import java.util.Arrays;
import java.util.random.RandomGenerator;

/**
 * A NAS-Bench-201 cell: six edges, in arch-string order (node 1 from 0; node 2 from 0, 1; node 3
 * from 0, 1, 2). String form {@code |a~0|+|b~0|c~1|+|d~0|e~1|f~2|}.
 */
public record Nb201Arch(Nb201Op[] ops) implements io.wrcor.space.Arch {
    public static final int EDGES = 6;

    public Nb201Arch {
        if (ops.length != EDGES) throw new IllegalArgumentException("a NAS-Bench-201 cell has 6 edges, got " + ops.length);
        ops = ops.clone();
    }

    /** Node that edge j reads from. */
    public static int edgeSource(int j) {
        return j < 1 ? j : j < 3 ? j - 1 : j - 3;
    }

    public Nb201Op op(int j) {
        return ops[j];
    }

    public static Nb201Arch parse(String s) {
        String where = "arch string '" + s + "'";
        if (s == null || s.isBlank()) throw new IllegalArgumentException("empty arch string");
        String[] nodes = s.trim().split("\\+", -1);
        if (nodes.length != 3) {
            throw new IllegalArgumentException(where + ": expected 3 node groups separated by '+', found " + nodes.length);
        }
        Nb201Op[] ops = new Nb201Op[EDGES];
        int e = 0;
        for (int i = 0; i < 3; i++) {
            String g = nodes[i];
            if (g.length() < 2 || !g.startsWith("|") || !g.endsWith("|")) {
                throw new IllegalArgumentException(where + ": node group " + (i + 1) + " '" + g + "' must look like |op~j|...|");
            }
            String[] edges = g.substring(1, g.length() - 1).split("\\|", -1);
            if (edges.length != i + 1) {
                throw new IllegalArgumentException(where + ": node " + (i + 1) + " needs " + (i + 1) + " edges, found " + edges.length);
            }
            for (int j = 0; j <= i; j++) {
                String[] parts = edges[j].split("~", -1);
                if (parts.length != 2) throw new IllegalArgumentException(where + ": edge '" + edges[j] + "' must be op~j");
                if (!parts[1].equals(Integer.toString(j))) {
                    throw new IllegalArgumentException(where + ": edge '" + edges[j] + "' into node " + (i + 1) + " must read node " + j);
                }
                try {
                    ops[e++] = Nb201Op.parse(parts[0]);
                } catch (IllegalArgumentException ex) {
                    throw new IllegalArgumentException(where + ": " + ex.getMessage());
                }
            }
        }
        return new Nb201Arch(ops);
    }

    /** An architecture with every edge drawn uniformly from the five ops. */
    public static Nb201Arch sample(RandomGenerator rnd) {
        Nb201Op[] all = Nb201Op.values();
        Nb201Op[] ops = new Nb201Op[EDGES];
        for (int j = 0; j < EDGES; j++) ops[j] = all[rnd.nextInt(all.length)];
        return new Nb201Arch(ops);
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("|");
        for (int j = 0; j < EDGES; j++) {
            sb.append(ops[j].label).append('~').append(edgeSource(j)).append('|');
            if (j == 0 || j == 2) sb.append("+|");
        }
        return sb.toString();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Nb201Arch a && Arrays.equals(ops, a.ops);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(ops);
    }
}
