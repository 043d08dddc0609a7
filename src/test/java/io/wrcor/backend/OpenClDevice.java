package io.wrcor.backend;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.wrcor.backend.opencl.OpenClBackend;

/**
 * The OpenCL backend the test classes share (opened once per test run, closed at exit). Without an
 * OpenCL runtime a test skips with the reason, except in CI, which installs PoCL: there it fails.
 */
final class OpenClDevice {
    private static OpenClBackend cl;
    private static String unavailable;
    private static boolean tried;

    private OpenClDevice() {
    }

    static synchronized OpenClBackend require() {
        if (!tried) {
            tried = true;
            try {
                cl = OpenClBackend.open();
                Runtime.getRuntime().addShutdownHook(new Thread(cl::close));
            } catch (OpenClBackend.Unavailable e) {
                unavailable = e.getMessage();
            }
        }
        if (cl == null && "true".equals(System.getenv("CI"))) throw new AssertionError("CI installs PoCL, yet OpenCL is unavailable: " + unavailable);
        assumeTrue(cl != null, () -> "OpenCL unavailable: " + unavailable);
        return cl;
    }
}
