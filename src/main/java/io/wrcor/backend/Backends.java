package io.wrcor.backend;

import io.wrcor.backend.cpu.FastCpuBackend;
import io.wrcor.backend.cuda.CudaBackend;
import io.wrcor.backend.cpu.ReferenceBackend;
import io.wrcor.backend.opencl.OpenClBackend;
import java.util.List;
import java.util.function.Consumer;

/** Opens a backend by name: the choice the command line's --backend makes, for the Java API too. */
public final class Backends {
    private Backends() {
    }

    /** Thrown when the named backend cannot run here; the message says why. */
    public static final class UnavailableException extends RuntimeException {
        public UnavailableException(String message) {
            super(message);
        }
    }

    /**
     * {@code cpu}, {@code opencl}, {@code cuda}, {@code reference} or {@code auto}: the fastest
     * available, which is CUDA, then OpenCL on a GPU, and otherwise the CPU backend (an OpenCL CPU
     * device such as PoCL is slower than OpenBLAS); {@code notes} hears which one auto took and why.
     */
    /** The fast CPU backend; without OpenBLAS it is unavailable (a clear reason, like the device backends). */
    private static Backend cpu(int threads) {
        if (io.wrcor.backend.cpu.OpenBlas.get() == null) {
            throw new UnavailableException("cpu backend unavailable: OpenBLAS could not be loaded: " + io.wrcor.backend.cpu.OpenBlas.failure()
                    + " (--backend reference runs without it, slowly)");
        }
        return new FastCpuBackend(threads);
    }

    /**
     * One backend per device of {@code devices} (indices of the backend's own numbering: CUDA's, all
     * OpenCL devices in platform order; the CPU backend has one device, 0), in that order; lanes are
     * spread over them ({@link #lane}). A device that does not exist is an {@link UnavailableException}
     * naming it; the ones opened before are closed.
     */
    public static List<Backend> openDevices(String name, List<Integer> devices, int threads) {
        if (devices.isEmpty()) throw new IllegalArgumentException("--devices: no device given");
        if (new java.util.HashSet<>(devices).size() < devices.size()) {
            throw new IllegalArgumentException("--devices " + devices + " names a device twice (--in-flight K puts several lanes on each device)");
        }
        List<Backend> opened = new java.util.ArrayList<>();
        try {
            for (int d : devices) {
                opened.add(switch (name) {
                    case "cuda" -> openCuda(d);
                    case "opencl" -> {
                        try {
                            yield OpenClBackend.open(d);
                        } catch (OpenClBackend.Unavailable e) {
                            throw new UnavailableException("opencl backend unavailable: " + e.getMessage());
                        }
                    }
                    case "cpu", "reference" -> {
                        if (d != 0) throw new UnavailableException("--devices " + d + ": the " + name + " backend has one device, 0");
                        yield open(name, threads, note -> { });
                    }
                    default -> throw new IllegalArgumentException("--devices needs --backend cuda, opencl or cpu, not '" + name + "'");
                });
            }
            return opened;
        } catch (RuntimeException e) {
            for (Backend b : opened) if (b instanceof AutoCloseable c) {
                try {
                    c.close();
                } catch (Exception ignored) {
                    // already failing
                }
            }
            throw e;
        }
    }

    /**
     * Lane {@code i} of a set of devices: device i mod n itself for the first n lanes, then a new lane
     * of it ({@link Backend#newLane}), so that lanes are spread evenly over the devices.
     */
    public static Backend lane(List<Backend> devices, int i) {
        Backend d = devices.get(i % devices.size());
        return i < devices.size() ? d : d.newLane();
    }

    /** The CUDA backend on device {@code index}; a missing device or driver is an {@link UnavailableException} naming it. */
    public static Backend openCuda(int index) {
        try {
            return CudaBackend.open(index);
        } catch (CudaBackend.Unavailable e) {
            throw new UnavailableException("cuda backend unavailable: " + e.getMessage());
        }
    }

    /** The backends {@link #open} knows by name. */
    public static final List<String> NAMES = List.of("cpu", "opencl", "cuda", "auto", "reference");

    /** A clear message for a backend name {@link #open} does not know (without opening anything). */
    public static void requireKnown(String name) {
        if (!NAMES.contains(name)) throw new IllegalArgumentException("unknown backend '" + name + "' (expected cpu, opencl, cuda, auto or reference)");
    }

    public static Backend open(String name, int threads, Consumer<String> notes) {
        return switch (name) {
            case "cpu" -> cpu(threads);
            case "reference" -> new ReferenceBackend();
            case "opencl" -> {
                try {
                    yield OpenClBackend.open();
                } catch (OpenClBackend.Unavailable e) {
                    throw new UnavailableException("opencl backend unavailable: " + e.getMessage());
                }
            }
            case "cuda" -> {
                try {
                    yield CudaBackend.open();
                } catch (CudaBackend.Unavailable e) {
                    throw new UnavailableException("cuda backend unavailable: " + e.getMessage());
                }
            }
            case "auto" -> {
                String cudaWhy;
                try {
                    CudaBackend cuda = CudaBackend.open();
                    notes.accept("backend auto: " + cuda.name());
                    yield cuda;
                } catch (CudaBackend.Unavailable e) {
                    cudaWhy = e.getMessage();
                }
                String why;
                try {
                    OpenClBackend cl = OpenClBackend.open();
                    if (cl.isGpu()) {
                        notes.accept("backend auto: " + cl.name());
                        yield cl;
                    }
                    why = "the OpenCL device is not a GPU: " + cl.name();
                    cl.close();
                } catch (OpenClBackend.Unavailable e) {
                    why = "opencl unavailable: " + e.getMessage();
                }
                notes.accept("backend auto: cpu (" + why + "; cuda unavailable: " + cudaWhy + ")");
                yield cpu(threads);
            }
            default -> {
                requireKnown(name);
                throw new IllegalStateException("backend '" + name + "' is known but not opened");
            }
        };
    }
}
