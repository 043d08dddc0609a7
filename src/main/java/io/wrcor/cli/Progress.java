package io.wrcor.cli;

import java.io.PrintStream;

/** A progress bar with rate and ETA on stderr, redrawn in place. */
final class Progress {
    private final PrintStream err;
    private final int total;
    private final long start = System.nanoTime();
    private final boolean enabled;
    private int done;

    Progress(PrintStream err, int total, boolean enabled) {
        this.err = err;
        this.total = total;
        this.enabled = enabled && total > 1;
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
        int width = 30, filled = (int) ((long) width * done / total);
        err.printf("\r[%s%s] %d/%d  %.2f arch/s  ETA %d:%02d:%02d %s\033[K", "#".repeat(filled), ".".repeat(width - filled), done, total,
                rate, eta / 3600, eta / 60 % 60, eta % 60, note);
        if (done == total) err.println();
        err.flush();
    }
}
