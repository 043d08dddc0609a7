package io.wrcor.backend;

import static io.wrcor.backend.RandomTensors.normal;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.wrcor.backend.opencl.OpenClBackend;
import io.wrcor.tensor.DType;
import io.wrcor.tensor.Tensor;
import java.lang.foreign.Arena;
import org.junit.jupiter.api.BeforeEach;

/**
 * The OpenCL backend's kernels against the reference ops (the {@link BackendContract}), and its
 * program cache. Skips, with the reason, where no OpenCL runtime exists; in CI, which installs
 * PoCL, a missing runtime fails.
 */
class OpenClBackendTest extends BackendContract {
    OpenClBackend cl;

    @BeforeEach
    void needsOpenCl() {
        cl = OpenClDevice.require();
    }

    @Override
    Backend be() {
        return cl;
    }

    /** The second start loads the device binaries the first one stored, and they compute the same. */
    @org.junit.jupiter.api.Test
    void programBinariesAreCachedAndReused(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        String before = System.getProperty("wrcor.cache");
        System.setProperty("wrcor.cache", dir.toString());
        try {
            try (OpenClBackend first = OpenClBackend.open()) {
                assertTrue(first.name().startsWith("opencl"));
            }
            java.nio.file.Path cache = dir.resolve("opencl");
            long entries;
            try (var s = java.nio.file.Files.list(cache)) {
                entries = s.filter(p -> p.toString().endsWith(".bin")).count();
            }
            assertTrue(entries >= 1, "binaries stored in " + cache);
            java.nio.file.attribute.FileTime stamp;
            try (var s = java.nio.file.Files.list(cache)) {
                stamp = java.nio.file.Files.getLastModifiedTime(s.findFirst().orElseThrow());
            }
            try (OpenClBackend second = OpenClBackend.open(); Arena a = Arena.ofShared()) {
                Tensor x = normal(a, rnd, DType.F32, 1, 33), o = poisoned(a, DType.F32, 1, 33), o2 = Tensor.allocate(a, DType.F32, 1, 33);
                second.relu(x, o);
                REF.relu(x, o2);
                assertClose(o, o2, DType.F32, "relu from cached binaries");
            }
            try (var s = java.nio.file.Files.list(cache)) {
                assertEquals(entries, s.filter(p -> p.toString().endsWith(".bin")).count(), "no new entries on the second start");
            }
            try (var s = java.nio.file.Files.list(cache)) {
                assertEquals(stamp, java.nio.file.Files.getLastModifiedTime(s.findFirst().orElseThrow()), "entries are not rewritten");
            }
        } finally {
            if (before == null) System.clearProperty("wrcor.cache");
            else System.setProperty("wrcor.cache", before);
        }
    }
}
