package io.wrcor.backend;

import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A backend that times every op of another one (wall clock per method, summed over calls), for
 * {@code bench --profile}. Single engine thread, as every backend is driven.
 */
public final class Profiled {
    private static final java.util.Set<String> UNTIMED = java.util.Set.of("name", "statsType", "fusesReluBackward", "fusesReluIntoConv", "sync", "correlator", "close", "allowFastConvolutions");
    private final Map<String, long[]> totals = new LinkedHashMap<>(); // op -> {nanos, calls, tensor bytes, flops}

    /** The timed view of {@code inner}; default methods (the correlator) run through the view, so their ops are timed too. */
    public Backend wrap(Backend inner) {
        InvocationHandler h = (proxy, m, args) -> {
            if (m.isDefault() && !overrides(inner, m)) return InvocationHandler.invokeDefault(proxy, m, args);
            if (m.getName().equals("correlator") && overrides(inner, m)) return timed((Correlator) m.invoke(inner, args), inner);
            if (m.getDeclaringClass() == Object.class || UNTIMED.contains(m.getName())) return m.invoke(inner, args);
            long t0 = System.nanoTime();
            try {
                Object r = m.invoke(inner, args);
                inner.sync(); // a device backend's kernels run asynchronously: the op's time is until they finish
                return r;
            } catch (InvocationTargetException e) {
                throw e.getCause();
            } finally {
                long[] t = totals.computeIfAbsent(m.getName(), k -> new long[4]);
                t[0] += System.nanoTime() - t0;
                t[1]++;
                if (args != null) for (Object a : args) if (a instanceof io.wrcor.tensor.Tensor x) t[2] += x.numel() * x.dtype().bytes;
                t[3] += flops(m.getName(), args);
            }
        };
        return (Backend) java.lang.reflect.Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[] {Backend.class}, h);
    }

    /**
     * A device's own correlator, its responses timed as one op ("correlation": row statistics, Gram
     * matrix and accumulation, until they finish); without this their queued kernels would be
     * counted in whichever op waits next.
     */
    private Correlator timed(Correlator c, Backend inner) {
        InvocationHandler h = (proxy, m, args) -> {
            if (!m.getName().equals("add")) {
                try {
                    return m.invoke(c, args);
                } catch (InvocationTargetException e) {
                    throw e.getCause();
                }
            }
            inner.sync(); // the response's own kernels: not those queued before
            long t0 = System.nanoTime();
            try {
                m.invoke(c, args);
                inner.sync();
                return null;
            } catch (InvocationTargetException e) {
                throw e.getCause();
            } finally {
                long[] t = totals.computeIfAbsent("correlation", k -> new long[4]);
                t[0] += System.nanoTime() - t0;
                t[1]++;
                if (args[0] instanceof io.wrcor.tensor.Tensor x) t[2] += x.numel() * x.dtype().bytes;
            }
        };
        return (Correlator) java.lang.reflect.Proxy.newProxyInstance(Correlator.class.getClassLoader(), new Class<?>[] {Correlator.class}, h);
    }

    /** Whether inner's class implements default method m itself (the device correlator does). */
    private static boolean overrides(Backend inner, Method m) {
        try {
            return !inner.getClass().getMethod(m.getName(), m.getParameterTypes()).isDefault();
        } catch (NoSuchMethodException e) {
            return false;
        }
    }

    public void reset() {
        totals.clear();
    }

    /**
     * The multiply-adds (as 2 flops each) of the ops that are products: convolutions (the output's
     * cells times the input channels per group times the window), linear layers and the correlation's
     * Gram matrix (a B x D response: B^2 D, its upper half as SYRK computes it); 0 for the rest.
     */
    static long flops(String op, Object[] args) {
        if (args == null) return 0;
        return switch (op) {
            case "convForward", "reluConvForward", "convBackwardData", "convBackwardDataMasked" ->
                    2 * t(op.endsWith("Forward") ? args[4] : args[0]).numel() * window(t(args[1]));
            case "convBackwardWeight" -> 2 * t(args[1]).numel() * window(t(args[4]));
            case "depthwiseForward" -> 2 * t(args[4]).numel() * window(t(args[1]));
            case "depthwiseBackwardData", "depthwiseBackwardWeight" -> 2 * t(op.equals("depthwiseBackwardData") ? args[0] : args[1]).numel()
                    * window(t(op.equals("depthwiseBackwardData") ? args[1] : args[4]));
            case "linearForward" -> 2 * t(args[3]).numel() * t(args[1]).dim(1);
            case "linearBackwardData" -> 2 * t(args[2]).numel() * t(args[1]).dim(0);
            case "linearBackwardWeight" -> 2 * t(args[2]).numel() * t(args[0]).dim(0);
            case "corrcoef", "correlation" -> {
                io.wrcor.tensor.Tensor r = t(args[0]);
                long b = r.dim(0);
                yield b * b * (r.numel() / b);
            }
            default -> 0;
        };
    }

    private static io.wrcor.tensor.Tensor t(Object o) {
        return (io.wrcor.tensor.Tensor) o;
    }

    /** A weight tensor [out, in per group, k, k]: the multiply-adds per output cell. */
    private static long window(io.wrcor.tensor.Tensor w) {
        return (long) w.dim(1) * w.dim(2) * w.dim(3);
    }

    /**
     * One line per op, slowest first: seconds, share of the ops' total, calls, and the bytes of its
     * tensor arguments over its time (each tensor counted once: a floor on the memory traffic); for
     * products, GFLOP/s. With the machine's ceilings, each op's rate as a share of its ceiling: GFLOP/s
     * of the GEMM ceiling for products, GB/s of the streaming ceiling for the rest.
     */
    public String report(int archs) {
        return report(archs, Double.NaN, Double.NaN);
    }

    public String report(int archs, double gemmGflops, double streamGBs) {
        long all = totals.values().stream().mapToLong(t -> t[0]).sum();
        boolean ceil = !Double.isNaN(gemmGflops);
        StringBuilder sb = new StringBuilder(String.format("  op time per architecture (%d archs), slowest first%s:%n", archs,
                ceil ? "; % of ceiling: GFLOP/s of the GEMM ceiling for products, GB/s of the streaming ceiling for the rest" : ""));
        totals.entrySet().stream().sorted(Comparator.comparingLong((Map.Entry<String, long[]> e) -> e.getValue()[0]).reversed())
                .forEach(e -> {
                    long[] v = e.getValue();
                    double secs = Math.max(1, v[0]) / 1e9, gbs = v[2] / 1e9 / secs, gflops = v[3] / 1e9 / secs;
                    sb.append(String.format("    %-28s %8.3f s  %5.1f%%  %7d calls  %6.1f GB/s", e.getKey(), v[0] / 1e9 / archs,
                            100.0 * v[0] / Math.max(1, all), v[1] / archs, gbs));
                    sb.append(v[3] > 0 ? String.format("  %6.1f GFLOP/s", gflops) : "                ");
                    if (ceil) sb.append(String.format("  %4.0f%% of ceiling", 100 * (v[3] > 0 ? gflops / gemmGflops : gbs / streamGBs)));
                    sb.append(String.format("%n"));
                });
        return sb.toString();
    }
}
