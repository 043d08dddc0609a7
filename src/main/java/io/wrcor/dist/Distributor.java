package io.wrcor.dist;

import java.util.List;

/**
 * Scores architectures somewhere else than this process (a Spark cluster), on workers made from a
 * {@link WorkSpec}. The planner (the command) decides what is missing from the results store; the
 * distributor computes it and hands every result back to the planner's thread, which appends it to
 * the store: only the planner writes rows, once per architecture, however often the cluster ran a
 * task (retries after a lost executor, speculative copies).
 */
public interface Distributor {
    /** Receives results as they arrive, any order, one call at a time. */
    interface Sink {
        void accept(Worker.Scored scored);
    }

    /**
     * Scores every architecture of {@code archs} (canonical strings, distinct) with the proxies of
     * {@code proxies} (labels); returns when all have been handed to {@code sink}, or throws with a
     * one-line reason (those handed over before stay handed over).
     */
    void scoreAll(WorkSpec spec, List<String> archs, List<String> proxies, Sink sink);

    /** One line on where the work runs (the master, executors), for the command's log. */
    String describe();
}
