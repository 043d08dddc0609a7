package io.wrcor.backend;

import static io.wrcor.backend.RandomTensors.normal;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import io.wrcor.backend.cpu.FastCpuBackend;
import io.wrcor.tensor.DType;
import io.wrcor.tensor.Tensor;
import java.lang.foreign.Arena;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The fast CPU backend against the reference ops (the {@link BackendContract}), and its corrcoef's two paths. */
class FastCpuBackendTest extends BackendContract {
    static FastCpuBackend fast;

    @BeforeAll
    static void start() {
        fast = new FastCpuBackend(3); // more workers than this machine's cores: exercises uneven chunks
    }

    @AfterAll
    static void stop() {
        fast.close();
    }

    @Override
    Backend be() {
        return fast;
    }

    /** Rows with small means take the uncentred SSYRK path, rows with large means the centred recomputation. */
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
}
