package io.wrcor.backend;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.wrcor.backend.cuda.CudaBackend;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The CUDA backend's kernels against the reference ops (the {@link BackendContract}). Without a GPU
 * every contract test skips with the reason (fails instead under WRCOR_REQUIRE_CUDA=1, as the GPU
 * check sets it); the PTX the build made is checked either way.
 */
class CudaBackendTest extends BackendContract {
    static CudaBackend cuda;
    static String unavailable;

    @BeforeAll
    static void open() {
        try {
            cuda = CudaBackend.open();
        } catch (CudaBackend.Unavailable e) {
            unavailable = e.getMessage();
        }
    }

    @AfterAll
    static void close() {
        if (cuda != null) cuda.close();
    }

    @BeforeEach
    void needsCuda(org.junit.jupiter.api.TestInfo info) {
        if (info.getTestMethod().map(m -> m.getName().equals("ptxHasEveryKernelForEachPrecisionAndTarget")).orElse(false)) return;
        if (cuda == null && "1".equals(System.getenv("WRCOR_REQUIRE_CUDA"))) throw new AssertionError("CUDA unavailable: " + unavailable);
        assumeTrue(cuda != null, () -> "CUDA unavailable: " + unavailable);
    }

    @Override
    Backend be() {
        return cuda;
    }

    /** cuBLAS through FFM, as the GEMM shape calls it, against plain loops (transposes, offsets, strides, accumulation). */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.EnumSource(io.wrcor.tensor.DType.class)
    void cublasProductsMatchPlainLoops(io.wrcor.tensor.DType t) {
        GemmCheck.productsMatchPlainLoops(cuda, t, rnd);
    }

    /** The default (GEMM) shape with one sample per im2col chunk, and the tiled kernels, pass the convolution contract too. */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.MethodSource("convCases")
    void otherShapesConvolutionsMatchTheReference(io.wrcor.tensor.DType t, int b, int cin, int h, int w, int cout, int k, int stride, int pad) {
        OpenClBackendTest.inShape(cuda, KernelBackend.Shape.GEMM, 1, () -> convKernelsMatchTheReference(t, b, cin, h, w, cout, k, stride, pad));
        OpenClBackendTest.inShape(cuda, KernelBackend.Shape.TILES, () -> convKernelsMatchTheReference(t, b, cin, h, w, cout, k, stride, pad));
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.MethodSource("correlationCases")
    void tiledCorrelationMatchesTheReference(int b, int d) {
        OpenClBackendTest.inShape(cuda, KernelBackend.Shape.TILES, () -> correlationKernelsMatchTheReference(b, d));
        OpenClBackendTest.inShape(cuda, KernelBackend.Shape.TILES, this::deviceCorrelatorMatchesTheHostOne);
    }

    /** nvcc built every kernel into the PTX the jar carries, for float and double and both targets. */
    @Test
    void ptxHasEveryKernelForEachPrecisionAndTarget() throws IOException {
        assumeTrue(CudaBackend.builtWithPtx(), "built without nvcc: no PTX to check");
        for (String target : new String[]{"compute_80", "compute_90"})
            for (String prec : new String[]{"f32", "f64"}) {
                StringBuilder all = new StringBuilder();
                for (String src : KernelBackend.SOURCES) {
                    String name = "/cuda-kernels/ptx/" + src.replace(".cu", "") + "-" + prec + "-" + target + ".ptx";
                    try (InputStream in = CudaBackendTest.class.getResourceAsStream(name)) {
                        assertTrue(in != null, name + " is missing");
                        all.append(new String(in.readAllBytes(), StandardCharsets.US_ASCII));
                    }
                }
                for (String k : KernelBackend.KERNELS) {
                    assertTrue(all.indexOf(".entry " + k + "(") >= 0, k + " missing from the " + prec + " " + target + " PTX");
                }
            }
    }
}
