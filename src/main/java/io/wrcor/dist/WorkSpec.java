package io.wrcor.dist;

import io.wrcor.data.Batch;
import io.wrcor.data.TensorFolder;
import io.wrcor.proxy.Proxy;
import io.wrcor.results.RunKey;
import io.wrcor.space.NetSize;
import io.wrcor.space.SearchSpace;
import io.wrcor.space.SearchSpaces;
import io.wrcor.tensor.DType;
import io.wrcor.tensor.Tensor;
import java.io.Serial;
import java.io.Serializable;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.Objects;

/**
 * Everything a worker on another machine needs to score architectures exactly as the command that
 * planned the work would: the space, the network's size, the weights' seed, the input batch itself
 * (its float32 values and labels, so that workers need none of the driver's files), the backend and
 * its threads, and the results store's {@code run} key. A worker rebuilds the batch and checks that
 * its own run key is this one before it scores anything, so that rows computed elsewhere can only
 * land under the settings they were computed with.
 *
 * <p>The space's FLOPs limit (mbv2) is not part of it: it bounds sampling and mutation, which stay
 * with the planner, never a score.
 *
 * <p>With a weights folder ({@code --weights}), its files travel with the spec ({@code weights}: the
 * manifest and the tensor files, by name) and the worker rebuilds the folder, whose digest is part
 * of the run key it checks; else the weights are drawn from {@code seed}.
 *
 * @param threads    CPU threads per worker, or 0: as many as the cluster gives each task
 * @param weights    a weights folder's files ({@link TensorFolder#rawFiles}), or null
 */
public record WorkSpec(String space, NetSize network, long seed, String backend, int threads, int[] inputShape,
                       float[] input, int[] labels, String run, java.util.LinkedHashMap<String, byte[]> weights) implements Serializable {
    @Serial
    private static final long serialVersionUID = 2L;

    public WorkSpec {
        Objects.requireNonNull(space);
        Objects.requireNonNull(network);
        Objects.requireNonNull(backend);
        Objects.requireNonNull(run);
        if (inputShape.length != 4 || (long) inputShape[0] * inputShape[1] * inputShape[2] * inputShape[3] != input.length
                || labels.length != inputShape[0]) {
            throw new IllegalArgumentException("work spec: an input batch of " + input.length + " values and " + labels.length
                    + " labels does not have the shape " + java.util.Arrays.toString(inputShape));
        }
    }

    /** The spec of a planned run with weights drawn from {@code seed}: the batch's values copied out of native memory. */
    public static WorkSpec of(SearchSpace space, NetSize network, long seed, String backend, int threads, Batch batch, String run) {
        return of(space, network, seed, backend, threads, batch, run, null);
    }

    /** As above, with a weights folder's files ({@link TensorFolder#rawFiles}; null: weights drawn from the seed). */
    public static WorkSpec of(SearchSpace space, NetSize network, long seed, String backend, int threads, Batch batch, String run,
                              java.util.Map<String, byte[]> weights) {
        Tensor in = batch.input();
        if (in.dtype() != DType.F32) throw new IllegalArgumentException("work spec: the input batch must be float32");
        float[] values = in.data().asSlice(0, in.numel() * 4).toArray(ValueLayout.JAVA_FLOAT);
        return new WorkSpec(space.name(), network, seed, backend, threads, in.shape().clone(), values, batch.labels().clone(), run,
                weights == null ? null : new java.util.LinkedHashMap<>(weights));
    }

    public SearchSpace searchSpace() {
        return SearchSpaces.get(space);
    }

    /** The input batch in native memory of {@code arena}. */
    public Batch batch(Arena arena) {
        Tensor t = Tensor.allocate(arena, DType.F32, inputShape);
        MemorySegment.copy(input, 0, t.data(), ValueLayout.JAVA_FLOAT, 0, input.length);
        return new Batch(t, labels.clone());
    }

    /**
     * The run key this spec's settings give, recomputed from the batch's values and, with a weights
     * folder, from the folder rebuilt on the worker (what a worker checks).
     */
    public String runOf(Batch b, TensorFolder folder) {
        if (folder != null) return RunKey.ofFolder(searchSpace(), network, folder.digest(), b);
        return RunKey.ofInit(searchSpace(), network, seed, b);
    }

    /** A key that tells specs apart for the pools of warm workers (the run key names the batch's content). */
    public String poolKey(int threadsGiven, String device) {
        return run + " backend=" + backend + (device == null ? "" : ":" + device) + " threads=" + threadsGiven;
    }

    /** The proxies of labels, each known to this engine (a clear message otherwise). */
    public static List<Proxy> proxies(List<String> labels) {
        return labels.stream().map(Proxy::parse).toList();
    }
}
