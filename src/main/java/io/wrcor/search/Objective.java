package io.wrcor.search;

import io.wrcor.space.Arch;
import io.wrcor.vote.Vote;

/**
 * What a search maximises: one proxy or a vote, read through {@link #signedScores} (the members'
 * scores with their signs, higher is better), compared by the vote's pairwise majority. With a
 * single member a NaN score ranks below every other score, -inf included, so that a search never
 * keeps a NaN as its best.
 */
public interface Objective {
    Vote vote();

    /**
     * The objective of {@code vote} over the members' signed scores {@code members}: with a soft
     * rule, {@link Calibrated} on {@code reference}; else the members' scores, compared by the
     * vote's pairwise majority ({@code reference} unused).
     */
    static Objective of(Vote vote, java.util.function.Function<Arch, double[]> members, java.util.List<? extends Arch> reference) {
        if (vote.softRule() != null) return new Calibrated(vote, vote.softRule(), members, reference);
        return new Objective() {
            @Override
            public Vote vote() {
                return vote;
            }

            @Override
            public double[] signedScores(Arch arch) {
                return members.apply(arch);
            }
        };
    }

    /**
     * The objective when none is given: the recommended ensemble on NAS-Bench-201, where it was
     * chosen and found the better cells (benchmarks/RESULTS.md, "Search"), else the published vote (the ensemble is
     * not measured in the other spaces, even where they compute its members).
     */
    static String defaultVote(io.wrcor.space.SearchSpace space) {
        return space.name().equals("nb201") ? "recommended" : "published";
    }

    /** The members' signed scores of an architecture (computed or from the cache); {@link #width()} values. */
    double[] signedScores(Arch arch);

    /**
     * The scores of these architectures are asked for next: an objective that can evaluate several at
     * once (in parallel on the backend's lanes) computes them now; the default does nothing, and
     * {@link #signedScores} computes each when asked.
     */
    default void prefetch(java.util.List<? extends Arch> archs) {
    }

    /** This objective, with {@link #prefetch} handing the architectures to {@code prefetcher}. */
    default Objective prefetching(java.util.function.Consumer<java.util.List<? extends Arch>> prefetcher) {
        Objective inner = this;
        return new Objective() {
            @Override
            public Vote vote() {
                return inner.vote();
            }

            @Override
            public double[] signedScores(Arch arch) {
                return inner.signedScores(arch);
            }

            @Override
            public int width() {
                return inner.width();
            }

            @Override
            public int compare(double[] a, double[] b) {
                return inner.compare(a, b);
            }

            @Override
            public void prefetch(java.util.List<? extends Arch> archs) {
                prefetcher.accept(archs);
            }
        };
    }

    /** How many values {@link #signedScores} gives: the vote's members, or 1 for a calibrated soft ensemble. */
    default int width() {
        return vote().members().size();
    }

    /** +1 when a beats b, -1 when b beats a, 0 when neither does. */
    default int compare(double[] a, double[] b) {
        if (a.length == 1) {
            double x = a[0], y = b[0];
            if (Double.isNaN(x) || Double.isNaN(y)) return Double.isNaN(x) == Double.isNaN(y) ? 0 : Double.isNaN(x) ? -1 : 1;
            return x > y ? 1 : x < y ? -1 : 0;
        }
        return Vote.compare(a, b);
    }
}
