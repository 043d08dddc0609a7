package io.wrcor.backend.opencl;

import static org.lwjgl.opencl.CL10.*;

import io.wrcor.util.CacheDir;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.IntBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import org.lwjgl.PointerBuffer;
import org.lwjgl.system.MemoryStack;
import org.lwjgl.system.MemoryUtil;

/**
 * Builds the kernels' program once per device, driver, source and options: the device binary is
 * kept in {@code opencl/} of {@link CacheDir#root()}; later starts load
 * it instead of compiling. A cache entry that fails to load is rebuilt from source.
 */
final class ProgramCache {
    private ProgramCache() {
    }

    static long build(long context, long device, String deviceKey, String source, String options) throws OpenClBackend.Unavailable {
        Path file = CacheDir.root().resolve("opencl").resolve(key(deviceKey, source, options) + ".bin");
        if (Files.isRegularFile(file)) {
            try {
                long p = fromBinary(context, device, Files.readAllBytes(file), options);
                if (p != 0) return p;
            } catch (IOException ignored) {
                // an unreadable entry: build from source below
            }
        }
        long program = fromSource(context, device, source, options);
        try {
            save(program, file);
        } catch (IOException | RuntimeException ignored) {
            // the cache is an optimisation: a read-only home or a device without binaries just rebuilds next time
        }
        return program;
    }

    private static long fromSource(long context, long device, String source, String options) throws OpenClBackend.Unavailable {
        try (MemoryStack stack = MemoryStack.stackPush()) {
            IntBuffer err = stack.mallocInt(1);
            long program = clCreateProgramWithSource(context, source, err);
            OpenClBackend.check(err.get(0), "clCreateProgramWithSource");
            int built = clBuildProgram(program, device, options, null, 0);
            if (built != CL_SUCCESS) {
                String log = OpenClBackend.buildLog(program, device);
                clReleaseProgram(program);
                throw new OpenClBackend.Unavailable("kernels do not build (error " + built + "): " + log);
            }
            return program;
        }
    }

    /** 0 when the binary is not accepted. */
    private static long fromBinary(long context, long device, byte[] binary, String options) {
        ByteBuffer buf = MemoryUtil.memAlloc(binary.length).put(binary).flip();
        try (MemoryStack stack = MemoryStack.stackPush()) {
            IntBuffer status = stack.mallocInt(1), err = stack.mallocInt(1);
            long program = clCreateProgramWithBinary(context, stack.pointers(device), buf, status, err);
            if (err.get(0) != CL_SUCCESS || status.get(0) != CL_SUCCESS) return 0;
            if (clBuildProgram(program, device, options, null, 0) != CL_SUCCESS) {
                clReleaseProgram(program);
                return 0;
            }
            return program;
        } finally {
            MemoryUtil.memFree(buf);
        }
    }

    private static void save(long program, Path file) throws IOException {
        byte[] bytes;
        try (MemoryStack stack = MemoryStack.stackPush()) {
            PointerBuffer size = stack.mallocPointer(1);
            OpenClBackend.check(clGetProgramInfo(program, CL_PROGRAM_BINARY_SIZES, size, null), "CL_PROGRAM_BINARY_SIZES");
            int n = (int) size.get(0);
            if (n <= 0) return;
            ByteBuffer bin = MemoryUtil.memAlloc(n);
            try {
                PointerBuffer ptrs = stack.pointers(bin);
                OpenClBackend.check(clGetProgramInfo(program, CL_PROGRAM_BINARIES, ptrs, null), "CL_PROGRAM_BINARIES");
                bytes = new byte[n];
                bin.get(bytes);
            } finally {
                MemoryUtil.memFree(bin);
            }
        }
        CacheDir.writeAtomically(file, bytes);
    }

    private static String key(String... parts) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            for (String p : parts) {
                md.update(p.getBytes(StandardCharsets.UTF_8));
                md.update((byte) 0);
            }
            return HexFormat.of().formatHex(md.digest()).substring(0, 32);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
