package io.wrcor.search;

import io.wrcor.space.Arch;
import io.wrcor.space.SearchSpace;
import java.util.random.RandomGenerator;

/** N architectures drawn uniformly; the best by the objective's comparator (a tie keeps the newer one). */
public final class RandomSearch implements Search {
    @Override
    public Arch run(SearchSpace space, Objective objective, int n, RandomGenerator rnd, Listener listener) {
        Best best = new Best(objective);
        for (int i = 0; i < n; i++) {
            Arch a = space.sample(rnd);
            double[] s = objective.signedScores(a);
            best.offer(a, s);
            listener.evaluated(i, a, s, best.arch());
        }
        return best.arch();
    }
}
