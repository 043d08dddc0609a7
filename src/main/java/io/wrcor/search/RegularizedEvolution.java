package io.wrcor.search;

import io.wrcor.space.nb201.Nb201Arch;
import io.wrcor.space.nb201.Nb201Op;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.random.RandomGenerator;

/**
 * Regularised evolution (Real et al. 2019) as NAS-Bench-201 runs it: a population of random
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

    private record Member(Nb201Arch arch, double[] scores) {}

    @Override
    public Nb201Arch run(Objective objective, int n, RandomGenerator rnd, Listener listener) {
        ArrayDeque<Member> pop = new ArrayDeque<>();
        Best best = new Best(objective);
        for (int step = 0; step < n; step++) {
            Nb201Arch a;
            if (step < population) {
                a = Nb201Arch.sample(rnd);
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
                a = mutate(parent.arch(), rnd);
            }
            double[] s = objective.signedScores(a);
            pop.addLast(new Member(a, s));
            if (pop.size() > population) pop.removeFirst();
            best.offer(a, s);
            listener.evaluated(step, a, s, best.arch());
        }
        return best.arch();
    }

    /** One edge, chosen uniformly, gets a different op, chosen uniformly among the other four. */
    public static Nb201Arch mutate(Nb201Arch parent, RandomGenerator rnd) {
        Nb201Op[] ops = new Nb201Op[Nb201Arch.EDGES];
        for (int j = 0; j < ops.length; j++) ops[j] = parent.op(j);
        int edge = rnd.nextInt(Nb201Arch.EDGES);
        Nb201Op[] all = Nb201Op.values();
        int pick = rnd.nextInt(all.length - 1);
        ops[edge] = all[pick >= ops[edge].ordinal() ? pick + 1 : pick];
        return new Nb201Arch(ops);
    }
}
