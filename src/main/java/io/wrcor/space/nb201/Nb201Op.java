package io.wrcor.space.nb201;

import java.util.Arrays;
import java.util.stream.Collectors;

/** The five NAS-Bench-201 edge operations, by their benchmark names. */
public enum Nb201Op {
    NONE("none"), SKIP_CONNECT("skip_connect"), NOR_CONV_1X1("nor_conv_1x1"), NOR_CONV_3X3("nor_conv_3x3"),
    AVG_POOL_3X3("avg_pool_3x3");

    public final String label;

    Nb201Op(String label) {
        this.label = label;
    }

    public static Nb201Op parse(String s) {
        for (Nb201Op op : values()) if (op.label.equals(s)) return op;
        throw new IllegalArgumentException("unknown op '" + s + "' (expected one of "
                + Arrays.stream(values()).map(o -> o.label).collect(Collectors.joining(", ")) + ")");
    }
}
