package io.wrcor.graph;

import io.wrcor.tensor.Tensor;

/** Receives the responses a pass was asked for, as soon as each is final. */
@FunctionalInterface
public interface ResponseListener {
    /**
     * @param value [B, ...] response; null when it is exactly zero (the graph gave it no gradient,
     *              e.g. behind a 'none' edge). Valid only during the call.
     */
    void onResponse(Response response, Tensor value);
}
