package io.wrcor.proxy;

import io.wrcor.Fixtures;
import io.wrcor.backend.cpu.ReferenceBackend;
import io.wrcor.data.Batch;
import io.wrcor.data.TensorFolder;
import io.wrcor.graph.Graph;
import io.wrcor.graph.Weights;
import io.wrcor.tensor.DType;
import io.wrcor.tensor.Tensor;
import io.wrcor.tensor.TensorPool;
import java.lang.foreign.Arena;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** Scores a fixture's network in float64 (its weights and batch converted), by default on the reference backend: for proxies whose float32 value is ill-conditioned. */
final class Float64Scoring {
    private Float64Scoring() {
    }

    static Scorer.Result score(String id, List<Proxy> proxies) {
        return score(id, proxies, new ReferenceBackend());
    }

    /** As above, on {@code backend} (the CPU backend's float64 passes go through BLAS's dgemm). */
    static Scorer.Result score(String id, List<Proxy> proxies, io.wrcor.backend.Backend backend) {
        try (Arena arena = Arena.ofShared(); TensorPool pool = new TensorPool()) {
            TensorFolder f = Fixtures.load(id, arena);
            Graph g = Fixtures.graph(f);
            Map<String, Tensor> w64 = new HashMap<>();
            for (String p : Weights.required(g).keySet()) w64.put(p, float64(f.tensors().get(p), arena));
            Batch b = f.batch();
            Batch b64 = new Batch(float64(b.input(), arena), b.labels());
            return new Scorer(backend, pool).score(g, null, new Weights(w64), b64, proxies);
        }
    }

    /** A float64 copy of t in arena. */
    static Tensor float64(Tensor t, Arena arena) {
        Tensor d = Tensor.allocate(arena, DType.F64, t.shape());
        d.copyFrom(t);
        return d;
    }
}
