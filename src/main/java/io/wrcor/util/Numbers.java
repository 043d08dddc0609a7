package io.wrcor.util;

import java.util.regex.Pattern;

/** Numbers as a user writes them: plain decimals (a sign, digits, a fraction, an exponent), finite. */
public final class Numbers {
    private static final Pattern PLAIN = Pattern.compile("[+-]?(\\d+\\.?\\d*|\\.\\d+)([eE][+-]?\\d+)?");

    private Numbers() {
    }

    /**
     * The value of a plain decimal such as 93.76, -5, 1e-3 or .5; null for anything else: words
     * Java's own parser takes ("Infinity", "NaN"), hexadecimal ("0x1p3"), type suffixes ("1d"),
     * blanks, and numbers too large to be finite.
     */
    public static Double plainDecimal(String text) {
        String t = text.strip();
        if (!PLAIN.matcher(t).matches()) return null;
        double v = Double.parseDouble(t);
        return Double.isFinite(v) ? v : null;
    }
}
