package io.wrcor.space.nb101;

import java.util.Arrays;
import java.util.stream.Collectors;

/** The three NAS-Bench-101 vertex operations, by their benchmark names. */
public enum Nb101Op {
    CONV3X3("conv3x3-bn-relu"), CONV1X1("conv1x1-bn-relu"), MAXPOOL3X3("maxpool3x3");

    public final String label;

    Nb101Op(String label) {
        this.label = label;
    }

    public static Nb101Op parse(String s) {
        for (Nb101Op op : values()) if (op.label.equals(s)) return op;
        throw new IllegalArgumentException("unknown op '" + s + "' (an interior vertex is one of "
                + Arrays.stream(values()).map(o -> o.label).collect(Collectors.joining(", ")) + ")");
    }
}
