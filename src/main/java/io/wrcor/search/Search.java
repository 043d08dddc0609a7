package io.wrcor.search;

import io.wrcor.space.nb201.Nb201Arch;
import java.util.random.RandomGenerator;

/** A zero-shot search over NAS-Bench-201 driven by an objective. */
public interface Search {
    /** Called after every evaluation, with the best architecture so far. */
    interface Listener {
        void evaluated(int step, Nb201Arch arch, double[] signedScores, Nb201Arch best);
    }

    /** The best architecture after {@code n} evaluations (the search's own budget). */
    Nb201Arch run(Objective objective, int n, RandomGenerator rnd, Listener listener);

    /** Keeps the best of a stream of candidates; a tie keeps the newer one. */
    final class Best {
        private final Objective objective;
        private Nb201Arch arch;
        private double[] scores;

        Best(Objective objective) {
            this.objective = objective;
        }

        void offer(Nb201Arch candidate, double[] candidateScores) {
            if (arch == null || objective.compare(candidateScores, scores) >= 0) {
                arch = candidate;
                scores = candidateScores;
            }
        }

        Nb201Arch arch() {
            return arch;
        }
    }
}
