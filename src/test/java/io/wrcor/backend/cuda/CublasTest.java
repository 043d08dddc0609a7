package io.wrcor.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The cuBLAS loader: loads whichever major version is installed, or says what it looked for. */
class CublasTest {
    @Test
    void loadsAnInstalledCublasOrNamesWhatItLookedFor() throws Exception {
        boolean installed = Cublas.DIRS.stream().anyMatch(d -> Cublas.SONAMES.stream().anyMatch(s -> Files.exists(Path.of(d, s))));
        if (installed) {
            assertNotNull(Cublas.load().origin);
            return;
        }
        if (System.getenv("WRCOR_CUBLAS") != null || System.getenv("LD_LIBRARY_PATH") != null) {
            org.junit.jupiter.api.Assumptions.abort("WRCOR_CUBLAS or LD_LIBRARY_PATH is set: cannot tell whether a cuBLAS is reachable");
        }
        String msg = assertThrows(CudaBackend.Unavailable.class, Cublas::load).getMessage();
        assertTrue(msg.startsWith("no cuBLAS (looked for libcublas.so.13 and libcublas.so.12"), msg);
    }
}
