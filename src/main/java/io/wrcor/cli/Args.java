package io.wrcor.cli;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** {@code --name value} and {@code --flag} options; every option must be one the command knows. */
final class Args {
    private final Map<String, List<String>> values = new LinkedHashMap<>();

    Args(String[] argv, int from, Set<String> withValue, Set<String> flags) {
        for (int i = from; i < argv.length; i++) {
            String a = argv[i];
            String name = a, value = null;
            int eq = a.indexOf('=');
            if (a.startsWith("--") && eq > 0) {
                name = a.substring(0, eq);
                value = a.substring(eq + 1);
            }
            if (flags.contains(name) && value == null) {
                values.computeIfAbsent(name, k -> new ArrayList<>()).add("true");
            } else if (withValue.contains(name)) {
                if (value == null) {
                    if (i + 1 >= argv.length) throw new UsageException("option " + name + " needs a value");
                    value = argv[++i];
                    if (value.startsWith("--")) {
                        throw new UsageException("option " + name + " needs a value, but the next argument is the option '" + value
                                + "' (write " + name + "=" + value + " if that is really the value)");
                    }
                }
                values.computeIfAbsent(name, k -> new ArrayList<>()).add(value);
            } else {
                throw new UsageException("unknown option '" + a + "' (see 'wrcor help')");
            }
        }
    }

    boolean has(String name) {
        return values.containsKey(name);
    }

    List<String> all(String name) {
        return values.getOrDefault(name, List.of());
    }

    String get(String name, String dflt) {
        List<String> v = values.get(name);
        return v == null ? dflt : v.getLast();
    }

    long getLong(String name, long dflt) {
        String v = get(name, null);
        if (v == null) return dflt;
        try {
            return Long.parseLong(v.trim());
        } catch (NumberFormatException e) {
            throw new UsageException("option " + name + " expects an integer, got '" + io.wrcor.util.Json.clip(v) + "'");
        }
    }

    int getInt(String name, int dflt, int min, int max) {
        long v = getLong(name, dflt);
        if (v < min || v > max) throw new UsageException("option " + name + " must be between " + min + " and " + max + ", got " + v);
        return (int) v;
    }

    /**
     * A finite number in plain decimal notation (an exponent allowed): Java's own parser would also
     * take "Infinity", "NaN", "0x1p3" or "1d".
     */
    double getDouble(String name, double dflt) {
        String v = get(name, null);
        if (v == null) return dflt;
        Double d = io.wrcor.util.Numbers.plainDecimal(v);
        if (d == null) throw new UsageException("option " + name + " expects a finite number, got '" + io.wrcor.util.Json.clip(v) + "'");
        return d;
    }
}
