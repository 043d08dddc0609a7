package io.wrcor.serve;

import io.wrcor.data.Batch;
import io.wrcor.space.NetSize;
import io.wrcor.space.SearchSpace;

/**
 * What decides a score besides the architecture and the proxy: the space, the network size, the
 * input batch (drawn from {@code data}, or synthetic when it is null) and the weights' init seed.
 * {@code run} is the results files' key of these settings ({@link io.wrcor.results.RunKey}).
 */
record Settings(SearchSpace space, NetSize net, int batchSize, long seed, String data, Batch batch, String run) {
    /** Engines are kept per space and network size. */
    String engineKey() {
        return space.name() + " " + space.netKey(net);
    }
}
