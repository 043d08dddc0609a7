package io.wrcor.dist;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedDeque;

/**
 * Warm workers of this JVM (a Spark executor), by settings: a task borrows one, scores its
 * architectures and gives it back, so an executor makes one worker per task slot that runs at
 * once and keeps them for its lifetime instead of one per architecture or task. Workers of other
 * settings stay pooled beside them (a job after another with another batch).
 */
public final class WorkerPool {
    private static final Map<String, ConcurrentLinkedDeque<Worker>> IDLE = new ConcurrentHashMap<>();

    private WorkerPool() {
    }

    /** An idle worker of these settings, or a new one. */
    public static Worker borrow(WorkSpec spec, int threads, Integer device) {
        Worker w = IDLE.computeIfAbsent(spec.poolKey(threads, device == null ? null : device.toString()), k -> new ConcurrentLinkedDeque<>()).pollFirst();
        if (w != null) return w;
        return new Worker(spec, threads, device);
    }

    /** Gives a worker back for the next task of the same settings. */
    public static void giveBack(WorkSpec spec, int threads, Integer device, Worker w) {
        IDLE.computeIfAbsent(spec.poolKey(threads, device == null ? null : device.toString()), k -> new ConcurrentLinkedDeque<>()).addFirst(w);
    }
}
