package io.wrcor.space;

/**
 * The size of a space's network besides the architecture. What {@code channels} and {@code cells}
 * mean is the space's: NAS-Bench-201's C and N (cells per stage), NAS-Bench-101's stem width and
 * cells per stack.
 *
 * @param imageSize the input's height and width
 */
public record NetSize(int channels, int cells, int classes, int imageSize) implements java.io.Serializable {
    public NetSize {
        if (channels < 1 || cells < 1 || classes < 1 || imageSize < 4) {
            throw new IllegalArgumentException("impossible network size: channels=" + channels + " cells=" + cells + " classes=" + classes
                    + " image=" + imageSize + " (need channels, cells, classes >= 1 and image >= 4)");
        }
    }

    public String key() {
        return String.format("C=%d,N=%d,classes=%d", channels, cells, classes);
    }
}
