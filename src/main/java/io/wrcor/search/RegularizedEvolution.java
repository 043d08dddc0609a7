package io.wrcor.search;

import io.wrcor.space.Arch;
import io.wrcor.space.SearchSpace;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.random.RandomGenerator;

/**
 * Regularised evolution (Real et al. 2019) as NAS-Bench-201 runs it (the mutation is the space's): a population of random
 * architectures; then, until N architectures have been evaluated, the winner of a tournament of S
 * members drawn from the population is mutated, the child joins and the oldest member dies. The
 * result is the best of every evaluated architecture.
 *
 * <p>Batched ({@code children} K > 1): each round draws K tournaments from the population as it
 * stands and mutates their winners (random draws in the order tournament, mutation, tournament, ...),
 * hands the K children to {@link Objective#prefetch} together (evaluated in parallel where the
 * objective can), then lets them join one by one in order, each pushing out the oldest member. The
 * initial population is drawn as before and prefetched K at a time. K = 1 is the published algorithm,
 * step for step: the same draws, the same evaluations in the same order, the same answer.
 */
public final class RegularizedEvolution implements Search {
    private final int population;
    private final int tournament;
    private final int children;

    public RegularizedEvolution(int population, int tournament) {
        this(population, tournament, 1);
    }

    public RegularizedEvolution(int population, int tournament, int children) {
        if (population < 1 || tournament < 1 || tournament > population) {
            throw new IllegalArgumentException("evolution needs population >= tournament >= 1, got population " + population
                    + " and tournament " + tournament);
        }
        if (children < 1 || children > population) {
            throw new IllegalArgumentException("evolution needs 1 <= children per round <= population, got " + children + " children and population "
                    + population);
        }
        this.population = population;
        this.tournament = tournament;
        this.children = children;
    }

    private record Member(Arch arch, double[] scores) {}

    @Override
    public Arch run(SearchSpace space, Objective objective, int n, RandomGenerator rnd, Listener listener) {
        ArrayDeque<Member> pop = new ArrayDeque<>();
        Best best = new Best(objective);
        int step = 0;
        while (step < n) {
            int round = Math.min(children, n - step);
            List<Arch> batch = new ArrayList<>(round);
            if (step < population) {
                round = Math.min(round, population - step); // the initial population first, in rounds of its own
                for (int i = 0; i < round; i++) batch.add(space.sample(rnd));
            } else {
                for (int i = 0; i < round; i++) batch.add(space.mutate(winner(pop, objective, rnd).arch(), rnd));
            }
            if (round > 1) objective.prefetch(new ArrayList<>(new LinkedHashSet<>(batch)));
            for (Arch a : batch) {
                double[] s = objective.signedScores(a);
                pop.addLast(new Member(a, s));
                if (pop.size() > population) pop.removeFirst();
                best.offer(a, s);
                listener.evaluated(step++, a, s, best.arch());
            }
        }
        return best.arch();
    }

    /** The best of a tournament of S members drawn without replacement (the first of equals wins). */
    private Member winner(ArrayDeque<Member> pop, Objective objective, RandomGenerator rnd) {
        List<Member> members = new ArrayList<>(pop);
        Member parent = null;
        for (int i = 0; i < tournament; i++) {
            int j = i + rnd.nextInt(members.size() - i);
            Member m = members.get(j);
            members.set(j, members.get(i));
            members.set(i, m);
            if (parent == null || objective.compare(m.scores(), parent.scores()) > 0) parent = m;
        }
        return parent;
    }
}
