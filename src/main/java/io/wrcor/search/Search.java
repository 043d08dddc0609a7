package io.wrcor.search;

import io.wrcor.space.Arch;
import io.wrcor.space.SearchSpace;
import java.util.random.RandomGenerator;

/** A zero-shot search over a space, driven by an objective. */
public interface Search {
    /** Called after every evaluation, with the best architecture so far. */
    interface Listener {
        void evaluated(int step, Arch arch, double[] signedScores, Arch best);
    }

    /**
     * A search by name: {@code random}, {@code evolution} (regularised evolution with this population
     * and tournament size) or {@code reinforce} (this learning rate, baseline EMA and calibration).
     */
    static Search of(String algo, int population, int tournament, double lr, double ema, int calibration) {
        return of(algo, population, tournament, 1, lr, ema, calibration);
    }

    /**
     * As above, with {@code perRound} architectures scored together per round (1: the published
     * algorithms, step for step): evolution's children from as many tournaments
     * ({@link RegularizedEvolution}), REINFORCE's samples per policy update ({@link Reinforce}),
     * random search's draws.
     */
    static Search of(String algo, int population, int tournament, int perRound, double lr, double ema, int calibration) {
        return switch (algo) {
            case "random" -> new RandomSearch(perRound);
            case "evolution" -> new RegularizedEvolution(population, tournament, perRound);
            case "reinforce" -> new Reinforce(lr, ema, calibration, perRound);
            default -> throw new IllegalArgumentException("unknown search '" + algo + "' (expected random, evolution or reinforce)");
        };
    }

    /** The best architecture after {@code n} evaluations (the search's own budget). */
    Arch run(SearchSpace space, Objective objective, int n, RandomGenerator rnd, Listener listener);

    /** Keeps the best of a stream of candidates; a tie keeps the newer one. */
    final class Best {
        private final Objective objective;
        private Arch arch;
        private double[] scores;

        Best(Objective objective) {
            this.objective = objective;
        }

        void offer(Arch candidate, double[] candidateScores) {
            if (arch == null || objective.compare(candidateScores, scores) >= 0) {
                arch = candidate;
                scores = candidateScores;
            }
        }

        Arch arch() {
            return arch;
        }
    }
}
