package io.wrcor.results;

import io.wrcor.data.Batch;
import io.wrcor.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * Everything besides the architecture and the proxy's definition that determines a score: the
 * space, the network's size, the weights (a folder's content digest, or the init rule and seed),
 * the input batch's content digest (which covers the data file's bytes, the chosen images, the
 * batch size and, for the synthetic batch, its seed), and the arithmetic's precision. Its text is
 * the {@code run} field of the results file; names of files never enter it, their contents do.
 */
public record RunKey(String space, String network, String weights, String input, String precision) {
    /** The float32 forward/backward passes with float64 accumulations and synflow in float64, as every backend runs them. */
    public static final String PRECISION = "float32";

    public String text() {
        return "space=" + space + " net=" + network + " weights=" + weights + " input=" + input + " precision=" + precision;
    }

    /** The run key's text for weights drawn by the space's initialisation from {@code seed}, on {@code batch}. */
    public static String ofInit(io.wrcor.space.SearchSpace space, io.wrcor.space.NetSize net, long seed, Batch batch) {
        return new RunKey(space.name(), space.netKey(net), initWeights(seed), input(batch), PRECISION).text();
    }

    /** The run key's text for the weights of a folder with this digest ({@code TensorFolder#digest}), on {@code batch}. */
    public static String ofFolder(io.wrcor.space.SearchSpace space, io.wrcor.space.NetSize net, String folderDigest, Batch batch) {
        return new RunKey(space.name(), space.netKey(net), "folder:" + folderDigest, input(batch), PRECISION).text();
    }

    /** Weights drawn by the space's initialisation (its published rule; the space is part of the key) from {@code seed}. */
    public static String initWeights(long seed) {
        return "init(seed=" + seed + ")";
    }

    /** "B images sha256:..." of the batch's float32 inputs (as given to the network) and labels. */
    public static String input(Batch b) {
        MessageDigest md = sha256();
        update(md, b.input());
        ByteBuffer labels = ByteBuffer.allocate(4 * b.labels().length).order(ByteOrder.LITTLE_ENDIAN);
        for (int l : b.labels()) labels.putInt(l);
        md.update(labels.flip());
        return b.size() + "x" + b.input().dim(2) + "x" + b.input().dim(3) + ":sha256:" + hex(md.digest());
    }

    static void update(MessageDigest md, Tensor t) {
        MemorySegment s = t.data().asSlice(0, t.numel() * t.dtype().bytes);
        md.update(s.asByteBuffer());
    }

    public static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The first 16 bytes of a digest in hex: collisions are out of reach for results files. */
    public static String hex(byte[] digest) {
        return HexFormat.of().formatHex(digest, 0, 16);
    }
}
