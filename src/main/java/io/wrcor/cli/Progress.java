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
        done++;
        if (!enabled) return;
        double secs = (System.nanoTime() - start) / 1e9;
        double rate = done / Math.max(secs, 1e-9);
        long eta = Math.round((total - done) / Math.max(rate, 1e-9));
        String sep = note.isEmpty() ? "" : "  ";
        if (tty) {
            int width = 30, filled = (int) ((long) width * done / total);
            err.printf("\r[%s%s] %d/%d  %.2f arch/s  ETA %d:%02d:%02d%s%s\033[K", "#".repeat(filled), ".".repeat(width - filled), done, total,
                    rate, eta / 3600, eta / 60 % 60, eta % 60, sep, note);
            if (done == total) err.println();
        } else if (done == total) {
            err.printf("wrcor: done: %d %s in %.1f s (%.2f arch/s)%s%s%n", total, what, secs, rate, sep, note);
        } else if (secs - lastPlain >= PLAIN_EVERY_S) {
            lastPlain = secs;
            err.printf("wrcor: %d/%d %s, %.2f arch/s, ETA %d:%02d:%02d%s%s%n", done, total, what, rate, eta / 3600, eta / 60 % 60, eta % 60,
                    sep, note);
        }
        err.flush();
    }
}
