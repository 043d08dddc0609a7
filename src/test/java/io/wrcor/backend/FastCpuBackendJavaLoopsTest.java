package io.wrcor.backend;

import io.wrcor.backend.cpu.FastCpuBackend;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/**
 * The fast CPU backend without its native kernels (a build without a C compiler): the same
 * {@link BackendContract}, so the Java and BLAS forms of the ops the native kernels replace stay right.
 */
class FastCpuBackendJavaLoopsTest extends BackendContract {
    static FastCpuBackend fast;

    @BeforeAll
    static void start() {
        fast = new FastCpuBackend(3, false);
    }

    @AfterAll
    static void stop() {
        fast.close();
    }

    @Override
    Backend be() {
        return fast;
    }
}
