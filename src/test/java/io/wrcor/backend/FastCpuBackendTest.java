package io.wrcor.backend;

import static io.wrcor.backend.RandomTensors.normal;
import static io.wrcor.backend.RandomTensors.relErr;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.wrcor.backend.cpu.FastCpuBackend;
import io.wrcor.backend.cpu.ReferenceBackend;
import io.wrcor.tensor.DType;
import io.wrcor.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

/** Every fast op agrees with the reference op on fresh random inputs, odd shapes included. */
class FastCpuBackendTest {
    static FastCpuBackend fast;
    static final ReferenceBackend REF = new ReferenceBackend();
    final SplittableRandom rnd = new SplittableRandom(System.nanoTime());

    @BeforeAll
    static void start() {
        fast = new FastCpuBackend(3); // more workers than this machine's cores: exercises uneven chunks
    }

    @AfterAll
    static void stop() {
        fast.close();
    }

    static double tol(DType t) {
        return t == DType.F32 ? 2e-5 : 1e-12;
    }

    static int out(int in, int k, int s, int p) {
        return (in + 2 * p - k) / s + 1;
    }

    @ParameterizedTest
    @CsvSource({"F32,2,3,5,7,4,3,1,1", "F32,3,8,9,9,16,3,2,1", "F32,5,4,6,5,3,1,1,0", "F64,1,3,8,8,5,3,1,1",
            "F64,2,4,7,7,6,3,2,1", "F32,4,6,8,8,7,1,1,0", "F64,2,5,6,6,4,1,1,0"})
    void convMatchesReference(DType t, int b, int cin, int h, int w, int cout, int k, int stride, int pad) {
        try (Arena a = Arena.ofShared()) {
            Tensor x = normal(a, rnd, t, b, cin, h, w), wt = normal(a, rnd, t, cout, cin, k, k);
            int ho = out(h, k, stride, pad), wo = out(w, k, stride, pad);
            Tensor y1 = normal(a, rnd, t, b, cout, ho, wo), y2 = Tensor.allocate(a, t, b, cout, ho, wo);
            fast.convForward(x, wt, stride, pad, y1);
            REF.convForward(x, wt, stride, pad, y2);
            assertTrue(relErr(y1, y2) < tol(t), "forward " + relErr(y1, y2));

            Tensor dy = normal(a, rnd, t, b, cout, ho, wo);
            Tensor dx1 = normal(a, rnd, t, x.shape()), dx2 = Tensor.allocate(a, t, x.shape());
            fast.convBackwardData(dy, wt, stride, pad, dx1);
            REF.convBackwardData(dy, wt, stride, pad, dx2);
            assertTrue(relErr(dx1, dx2) < tol(t), "backward data " + relErr(dx1, dx2));

            Tensor dw1 = normal(a, rnd, t, wt.shape()), dw2 = Tensor.allocate(a, t, wt.shape());
            fast.convBackwardWeight(x, dy, stride, pad, dw1);
            REF.convBackwardWeight(x, dy, stride, pad, dw2);
            assertTrue(relErr(dw1, dw2) < tol(t), "backward weight " + relErr(dw1, dw2));
        }
    }

    @ParameterizedTest
    @EnumSource(DType.class)
    void batchNormMatchesReference(DType t) {
        try (Arena a = Arena.ofShared()) {
            int b = 3, c = 5, h = 7, w = 6;
            Tensor x = normal(a, rnd, t, b, c, h, w), g = normal(a, rnd, t, c), be = normal(a, rnd, t, c);
            for (long i = 0; i < x.numel(); i++) x.set(i, 3 + 2 * x.get(i)); // an offset mean, as after a conv
            Tensor y1 = normal(a, rnd, t, x.shape()), y2 = Tensor.allocate(a, t, x.shape());
            double[] m1 = new double[c], s1 = new double[c], m2 = new double[c], s2 = new double[c];
            fast.batchNormForward(x, g, be, 1e-5, y1, m1, s1);
            REF.batchNormForward(x, g, be, 1e-5, y2, m2, s2);
            assertTrue(relErr(y1, y2) < tol(t), "forward " + relErr(y1, y2));
            assertArrayEquals(m2, m1, 1e-5);
            Tensor dy = normal(a, rnd, t, x.shape());
            Tensor dx1 = normal(a, rnd, t, x.shape()), dx2 = Tensor.allocate(a, t, x.shape());
            fast.batchNormBackward(x, dy, g, m2, s2, dx1);
            REF.batchNormBackward(x, dy, g, m2, s2, dx2);
            assertTrue(relErr(dx1, dx2) < 10 * tol(t), "backward " + relErr(dx1, dx2));
        }
    }

    @ParameterizedTest
    @CsvSource({"3,1,1,false", "3,1,1,true", "2,2,0,true"})
    void avgPoolMatchesReference(int k, int stride, int pad, boolean includePad) {
        for (DType t : DType.values()) {
            try (Arena a = Arena.ofShared()) {
                Tensor x = normal(a, rnd, t, 3, 4, 8, 6);
                int ho = out(8, k, stride, pad), wo = out(6, k, stride, pad);
                Tensor y1 = normal(a, rnd, t, 3, 4, ho, wo), y2 = Tensor.allocate(a, t, 3, 4, ho, wo);
                fast.avgPoolForward(x, k, stride, pad, includePad, y1);
                REF.avgPoolForward(x, k, stride, pad, includePad, y2);
                assertTrue(relErr(y1, y2) < tol(t), "forward " + relErr(y1, y2));
                Tensor dx1 = normal(a, rnd, t, x.shape()), dx2 = Tensor.allocate(a, t, x.shape());
                fast.avgPoolBackward(y2, k, stride, pad, includePad, dx1);
                REF.avgPoolBackward(y2, k, stride, pad, includePad, dx2);
                assertTrue(relErr(dx1, dx2) < tol(t), "backward " + relErr(dx1, dx2));
            }
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {7, 100_003})
    void elementwiseOpsMatchReference(int n) {
        for (DType t : DType.values()) {
            try (Arena a = Arena.ofShared()) {
                Tensor x = normal(a, rnd, t, 1, n), y = normal(a, rnd, t, 1, n);
                Tensor o1 = normal(a, rnd, t, 1, n), o2 = Tensor.allocate(a, t, 1, n);
                fast.relu(x, o1); REF.relu(x, o2);
                assertEquals(0, relErr(o1, o2), "relu");
                fast.reluBackward(x, y, o1); REF.reluBackward(x, y, o2);
                assertEquals(0, relErr(o1, o2), "relu backward");
                fast.add(x, y, o1); REF.add(x, y, o2);
                assertTrue(relErr(o1, o2) < tol(t), "add");
                fast.scale(x, 0.0, o1); REF.scale(x, 0.0, o2);
                assertEquals(0, relErr(o1, o2), "scale");
            }
        }
    }

    @ParameterizedTest
    @CsvSource({"5,0.0", "300,0.5", "4099,1.0", "16384,0.3", "16384,1.9", "16384,30"})
    void corrcoefMatchesReferenceForRowsWithMeans(int d, double meanOverStd) {
        try (Arena a = Arena.ofShared()) {
            int b = 16;
            Tensor r = normal(a, rnd, DType.F32, b, d);
            for (long i = 0; i < r.numel(); i++) r.set(i, 0.1 * (r.get(i) + meanOverStd * ((i / d) % 2 == 0 ? 1 : -1)));
            assertArrayEquals(REF.corrcoef(r), fast.corrcoef(r), 2e-5);
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {5, 300, 4099})
    void corrcoefMatchesReference(int d) {
        try (Arena a = Arena.ofShared()) {
            int b = 9;
            Tensor r = normal(a, rnd, DType.F32, b, d);
            for (long i = 0; i < r.numel(); i++) r.set(i, r.get(i) + 5 * (i / d)); // rows with different means
            double[] c1 = fast.corrcoef(r), c2 = REF.corrcoef(r);
            assertArrayEquals(c2, c1, 2e-5);
            for (int i = 0; i < b; i++) assertEquals(1.0, c1[i * b + i], 1e-6);
            for (long j = 0; j < d; j++) r.set(3L * d + j, 0.7); // one constant row: numpy gives NaN
            assertNull(fast.corrcoef(r));
            assertNull(REF.corrcoef(r));
        }
    }
}
