package io.wrcor.space;

import io.wrcor.space.mbv2.Mbv2Space;
import io.wrcor.space.nb101.Nb101Space;
import io.wrcor.space.nb201.Nb201Space;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The registry of search spaces: the one place that lists them. */
public final class SearchSpaces {
    private SearchSpaces() {
    }

    private static final Map<String, SearchSpace> ALL = new LinkedHashMap<>();

    static {
        for (SearchSpace s : List.<SearchSpace>of(Nb201Space.INSTANCE, Nb101Space.INSTANCE, Mbv2Space.INSTANCE)) ALL.put(s.name(), s);
    }

    /** The default space of every command. */
    public static SearchSpace defaultSpace() {
        return Nb201Space.INSTANCE;
    }

    public static SearchSpace get(String name) {
        SearchSpace s = ALL.get(name);
        if (s == null) throw new IllegalArgumentException("unknown space '" + name + "' (expected one of " + String.join(", ", ALL.keySet()) + ")");
        return s;
    }

    public static List<SearchSpace> all() {
        return List.copyOf(ALL.values());
    }

    /** The space a weights folder's meta names ({@code meta.space}; absent: NAS-Bench-201). */
    public static SearchSpace ofMeta(Map<String, Object> meta) {
        return meta.get("space") instanceof String s ? get(s) : Nb201Space.INSTANCE;
    }
}
