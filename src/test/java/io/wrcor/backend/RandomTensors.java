package io.wrcor.backend;

import io.wrcor.tensor.DType;
import io.wrcor.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.SplittableRandom;

/** Fresh random tensors for op checks. */
public final class RandomTensors {
    private RandomTensors() {
    }

    public static Tensor normal(Arena arena, SplittableRandom rnd, DType t, int... shape) {
        Tensor x = Tensor.allocate(arena, t, shape);
        for (long i = 0; i < x.numel(); i++) x.set(i, rnd.nextGaussian());
        return x;
    }

    /** max |a - b| / (max |b| + tiny): error relative to the output's scale. */
    public static double relErr(Tensor a, Tensor b) {
        double err = 0, scale = 1e-30;
        for (long i = 0; i < a.numel(); i++) {
            err = Math.max(err, Math.abs(a.get(i) - b.get(i)));
            scale = Math.max(scale, Math.abs(b.get(i)));
        }
        return err / scale;
    }
}
