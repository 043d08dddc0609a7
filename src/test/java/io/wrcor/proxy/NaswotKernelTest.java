package io.wrcor.proxy;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import io.wrcor.tensor.DType;
import io.wrcor.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class NaswotKernelTest {
    /** The popcount kernel equals c c^T + (1-c)(1-c)^T written out, for codes of any length. */
    @ParameterizedTest
    @ValueSource(ints = {1, 63, 64, 65, 200})
    void popcountKernelEqualsTheMatrixProducts(int d) {
        long seed = Long.getLong("wrcor.test.seed", System.nanoTime());
        System.out.println("popcountKernelEqualsTheMatrixProducts(" + d + "): random seed " + seed);
        SplittableRandom rnd = new SplittableRandom(seed);
        int b = 6;
        try (Arena a = Arena.ofShared()) {
            Tensor x = Tensor.allocate(a, DType.F32, b, d);
            for (long i = 0; i < x.numel(); i++) x.set(i, rnd.nextInt(3) - 1); // -1, 0 (not > 0) and 1
            double[] want = new double[b * b];
            for (int i = 0; i < b; i++)
                for (int j = 0; j < b; j++)
                    for (int k = 0; k < d; k++) {
                        double ci = x.get((long) i * d + k) > 0 ? 1 : 0, cj = x.get((long) j * d + k) > 0 ? 1 : 0;
                        want[i * b + j] += ci * cj + (1 - ci) * (1 - cj);
                    }
            assertArrayEquals(want, NaswotKernel.codeAgreement(x), 0);
        }
    }
}
