package io.wrcor.search;

import io.wrcor.space.Arch;
import io.wrcor.space.SearchSpace;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.random.RandomGenerator;

/**
 * Regularised evolution (Real et al. 2019) as NAS-Bench-201 runs it (the mutation is the space's): a population of random
 * architectures; then, until N architectures have been evaluated, the winner of a tournament of S
 * members drawn from the population is mutated, the child joins and the oldest member dies. The
 * result is the best of every evaluated architecture.
 */
public final class RegularizedEvolution implements Search {
    private final int population;
    private final int tournament;

    public RegularizedEvolution(int population, int tournament) {
        if (population < 1 || tournament < 1 || tournament > population) {
            throw new IllegalArgumentException("evolution needs population >= tournament >= 1, got population " + population
                    + " and tournament " + tournament);
        }
        this.population = population;
        this.tournament = tournament;
    }

    private record Member(Arch arch, double[] scores) {}

    @Override
    public Arch run(SearchSpace space, Objective objective, int n, RandomGenerator rnd, Listener listener) {
        ArrayDeque<Member> pop = new ArrayDeque<>();
        Best best = new Best(objective);
        for (int step = 0; step < n; step++) {
            Arch a;
            if (step < population) {
                a = space.sample(rnd);
            } else {
                List<Member> members = new ArrayList<>(pop);
                Member parent = null;
                for (int i = 0; i < tournament; i++) { // drawn without replacement
                    int j = i + rnd.nextInt(members.size() - i);
                    Member m = members.get(j);
                    members.set(j, members.get(i));
                    members.set(i, m);
                    if (parent == null || objective.compare(m.scores(), parent.scores()) > 0) parent = m;
                }
                a = space.mutate(parent.arch(), rnd);
            }
            double[] s = objective.signedScores(a);
            pop.addLast(new Member(a, s));
            if (pop.size() > population) pop.removeFirst();
            best.offer(a, s);
            listener.evaluated(step, a, s, best.arch());
        }
        return best.arch();
    }
}
