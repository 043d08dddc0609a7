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
    private static final java.util.Set<String> UNTIMED = java.util.Set.of("name", "statsType", "fusesReluBackward", "sync", "correlator", "close");
    private final Map<String, long[]> totals = new LinkedHashMap<>(); // op -> {nanos, calls, tensor bytes}

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
                long[] t = totals.computeIfAbsent(m.getName(), k -> new long[3]);
                t[0] += System.nanoTime() - t0;
                t[1]++;
                if (args != null) for (Object a : args) if (a instanceof io.wrcor.tensor.Tensor x) t[2] += x.numel() * x.dtype().bytes;
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
                long[] t = totals.computeIfAbsent("correlation", k -> new long[3]);
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
     * One line per op, slowest first: seconds, share of the ops' total, calls, and the bytes of its
     * tensor arguments over its time (each tensor counted once: a floor on the memory traffic).
     */
    public String report(int archs) {
        long all = totals.values().stream().mapToLong(t -> t[0]).sum();
        StringBuilder sb = new StringBuilder(String.format("  op time per architecture (%d archs), slowest first:%n", archs));
        totals.entrySet().stream().sorted(Comparator.comparingLong((Map.Entry<String, long[]> e) -> e.getValue()[0]).reversed())
                .forEach(e -> sb.append(String.format("    %-28s %8.3f s  %5.1f%%  %7d calls  %6.1f GB/s%n", e.getKey(),
                        e.getValue()[0] / 1e9 / archs, 100.0 * e.getValue()[0] / Math.max(1, all), e.getValue()[1] / archs,
                        e.getValue()[2] / Math.max(1.0, e.getValue()[0]))));
        return sb.toString();
    }
}
