package io.wrcor.search;

import io.wrcor.space.Arch;
import io.wrcor.space.SearchSpace;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.random.RandomGenerator;

/**
 * N architectures drawn uniformly; the best by the objective's comparator (a tie keeps the newer one).
 * Drawn {@code perRound} at a time and scored together ({@link Objective#prefetch}): the same draws
 * and the same answer whatever the round.
 */
public final class RandomSearch implements Search {
    private final int perRound;

    public RandomSearch() {
        this(1);
    }

    public RandomSearch(int perRound) {
        if (perRound < 1) throw new IllegalArgumentException("random search needs >= 1 architectures per round, got " + perRound);
        this.perRound = perRound;
    }

    @Override
    public Arch run(SearchSpace space, Objective objective, int n, RandomGenerator rnd, Listener listener) {
        Best best = new Best(objective);
        int i = 0;
        while (i < n) {
            List<Arch> round = new ArrayList<>();
            for (int k = Math.min(perRound, n - i); k > 0; k--) round.add(space.sample(rnd));
            if (round.size() > 1) objective.prefetch(new ArrayList<>(new LinkedHashSet<>(round)));
            for (Arch a : round) {
                double[] s = objective.signedScores(a);
                best.offer(a, s);
                listener.evaluated(i++, a, s, best.arch());
            }
        }
        return best.arch();
    }
}
