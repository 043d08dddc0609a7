package io.wrcor.cli;

import java.io.PrintStream;

/**
 * Progress on stderr: on a terminal a bar with rate and ETA redrawn in place; otherwise (stderr
 * redirected to a file or a pipe, or captured by a test) a plain line every {@link #PLAIN_EVERY_S}
 * seconds and one at the end, with no control characters. The launcher tells whether stderr is a
 * terminal (system property {@code wrcor.stderr.tty}); the JVM alone cannot see it.
 */
final class Progress {
    static final double PLAIN_EVERY_S = 10;

    private final PrintStream err;
    private final String what;
    private final int total;
    private final long start = System.nanoTime();
    private final boolean enabled, tty;
    private double lastPlain;
    private int done;

    Progress(PrintStream err, int total, boolean enabled) {
        this(err, "architectures", total, enabled);
    }

    Progress(PrintStream err, String what, int total, boolean enabled) {
        this.err = err;
        this.what = what;
        this.total = total;
        this.enabled = enabled && total > 1;
        this.tty = Boolean.getBoolean("wrcor.stderr.tty");
    }

    void step() {
        step("");
    }

    /** One more done; {@code note} (e.g. the current best) follows the rate and ETA. */
    void step(String note) {
        step(note, true);
    }

    private int distinct;
    private final java.util.ArrayDeque<Boolean> recent = new java.util.ArrayDeque<>();
    private int recentDistinct;

    /**
     * One more done, {@code fresh} when it is an architecture not seen before (a search evaluates some
     * again, from its cache, at no cost). The rate counts distinct architectures, and the ETA is the
     * remaining steps times the share of new ones among the recent steps (it falls as a search
     * converges) times the seconds per new architecture so far.
     */
    void step(String note, boolean fresh) {
        done++;
        if (fresh) distinct++;
        recent.addLast(fresh);
        if (fresh) recentDistinct++;
        int window = Math.max(20, done / 5);
        while (recent.size() > window) if (recent.removeFirst()) recentDistinct--;
        if (!enabled) return;
        double secs = (System.nanoTime() - start) / 1e9;
        double rate = distinct / Math.max(secs, 1e-9);
        double perNew = secs / Math.max(distinct, 1), newShare = recentDistinct / (double) recent.size();
        long eta = Math.round((total - done) * newShare * perNew);
        String sep = note.isEmpty() ? "" : "  ";
        String count = distinct == done ? "" : String.format(" (%d distinct)", distinct);
        if (tty) {
            int width = 30, filled = (int) ((long) width * done / total);
            err.printf("\r[%s%s] %d/%d%s  %.2f arch/s  ETA %d:%02d:%02d%s%s\033[K", "#".repeat(filled), ".".repeat(width - filled), done, total,
                    count, rate, eta / 3600, eta / 60 % 60, eta % 60, sep, note);
            if (done == total) err.println();
        } else if (done == total) {
            err.printf("wrcor: done: %d %s%s in %.1f s (%.2f arch/s)%s%s%n", total, what, count, secs, rate, sep, note);
        } else if (secs - lastPlain >= PLAIN_EVERY_S) {
            lastPlain = secs;
            err.printf("wrcor: %d/%d %s%s, %.2f arch/s, ETA %d:%02d:%02d%s%s%n", done, total, what, count, rate, eta / 3600, eta / 60 % 60, eta % 60,
                    sep, note);
        }
        err.flush();
    }
}
