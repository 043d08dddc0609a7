package io.wrcor.space;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.wrcor.graph.Graph;
import io.wrcor.proxy.Proxy;
import io.wrcor.space.nb201.Nb201Arch;
import io.wrcor.space.nb201.Nb201Network;
import io.wrcor.space.nb201.Nb201Op;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class Nb201ArchTest {
    @Test
    void parseAndPrintRoundTripForSampledArchitectures() {
        SplittableRandom rnd = new SplittableRandom(7);
        for (int i = 0; i < 200; i++) {
            Nb201Arch a = Nb201Arch.sample(rnd);
            assertEquals(a, Nb201Arch.parse(a.toString()));
        }
    }

    @Test
    void edgesAreNumberedInArchStringOrder() {
        Nb201Arch a = Nb201Arch.parse("|none~0|+|skip_connect~0|nor_conv_1x1~1|+|nor_conv_3x3~0|avg_pool_3x3~1|none~2|");
        assertEquals(Nb201Op.NOR_CONV_1X1, a.op(2));
        assertEquals(Nb201Op.AVG_POOL_3X3, a.op(4));
        assertEquals(2, Nb201Arch.edgeSource(5));
    }

    @Test
    void emptyOrGarbageStringsAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> Nb201Arch.parse(""));
        assertThrows(IllegalArgumentException.class, () -> Nb201Arch.parse("+|+|+"));
        assertThrows(IllegalArgumentException.class, () -> Nb201Arch.parse("|none~0|+|none~0|none~1|+|none~0|none~1|none~2"));
    }

    /** Site counts as the published code hooks them: 4 matrices per conv unit, 2 for lastact. */
    @Test
    void wrcorHasFourSitesPerConvUnitAndTwoForLastact() {
        Nb201Network net = Nb201Network.BENCHMARK;
        Graph g = net.build(Nb201Arch.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"));
        int units = 3 * 15 + 2 * 2; // three conv edges in each of 15 cells, two units per reduction block
        assertEquals(units + 1, g.sites().size()); // and lastact
        assertEquals(4 * units + 2, Proxy.WRCOR.terms(g).size());
        assertEquals(2 * units + 2, Proxy.WRCOR_RELU_ONLY.terms(g).size()); // x and dL/dx per unit; h and dL/dh
        assertEquals(2 * units + 1, Proxy.ACT_COR.terms(g).size());
        assertEquals(Math.scalb(1.0, 17), Proxy.WRCOR.terms(g).getLast().weight());
    }
}
