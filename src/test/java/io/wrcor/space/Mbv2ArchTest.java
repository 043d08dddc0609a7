package io.wrcor.space;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.wrcor.Fixtures;
import io.wrcor.space.mbv2.Mbv2Arch;
import io.wrcor.space.mbv2.Mbv2Sampler;
import java.io.IOException;
import java.nio.file.Files;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The MobileNetV2-like space's structure strings and the published FLOP and size counters. */
class Mbv2ArchTest {
    /** Every row of the published table: structure, resolution, get_FLOPs and get_model_size (1000 classes). */
    @Test
    void flopsAndParamsEqualThePublishedCountersOnEveryRow() throws IOException {
        List<String> lines = Files.readAllLines(Fixtures.shared().resolve("data/mbv2-flops.csv"));
        assertEquals("name,source,structure,resolution,flops,params,params_tensor", lines.getFirst());
        StringBuilder bad = new StringBuilder();
        for (String line : lines.subList(1, lines.size())) {
            String[] f = line.split(",(?=(?:[^\"]*\"[^\"]*\")*[^\"]*$)");
            Mbv2Arch a = Mbv2Arch.parse(f[2].replace("\"", "") + "@" + f[3]);
            assertEquals(f[2].replace("\"", "") + "@" + f[3], a.toString(), "the string is written back as read");
            double flops = Double.parseDouble(f[4]), params = Double.parseDouble(f[5]);
            if (a.flops(1000) != flops || a.params(1000) != params) {
                bad.append(String.format("%n%s: flops %.0f want %.0f, params %.0f want %.0f", f[0], a.flops(1000), flops, a.params(1000), params));
            }
        }
        assertTrue(bad.isEmpty(), bad.toString());
    }

    @Test
    void smartRoundRoundsHalvesToEven() {
        assertEquals(64, Mbv2Arch.smartRound(60, 8));
        assertEquals(16, Mbv2Arch.smartRound(12, 8));
        assertEquals(8, Mbv2Arch.smartRound(4, 8));
        assertEquals(32, Mbv2Arch.smartRound(28, 8), "28/8 = 3.5 rounds to 4");
        assertEquals(16, Mbv2Arch.smartRound(20, 8), "20/8 = 2.5 rounds to 2");
    }

    @Test
    void badStructuresAreRejectedWithTheReason() {
        String ok = "SuperConvK3BNRELU(3,16,2,1)SuperResIDWE6K3(16,24,2,8,2)SuperConvK1BNRELU(24,64,1,1)";
        assertEquals(224, Mbv2Arch.parse(ok).resolution());
        assertMessage(ok.replace("(16,24", "(12,24"), "takes 12 channels, the previous block gives 16");
        assertMessage(ok.replace("K3BNRELU", "K4BNRELU"), "kernel size 4 must be odd");
        assertMessage(ok.replace(",2,8,2)", ",3,8,2)"), "stride 3 must be 1 or 2");
        assertMessage(ok + "Foo(1)", "cannot read a block");
        assertMessage(ok.replace("(3,16,2,1)", "(3,16,2)"), "needs 4 numbers");
        assertMessage(ok + "@abc", "is not an integer");
        assertMessage("", "empty structure");
    }

    @Test
    void theSamplerDrawsThePublishedRangesUnderTheFlopsLimit() {
        Mbv2Sampler sampler = new Mbv2Sampler(600e6);
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(1);
        java.util.Map<Integer, Integer> res = new java.util.TreeMap<>();
        for (int i = 0; i < 129_000; i++) res.merge(Mbv2Sampler.resolution(rnd), 1, Integer::sum);
        int[] weights = {17, 31, 33, 31, 17};
        int j = 0;
        for (var e : res.entrySet()) {
            assertEquals(192 + 32 * j, e.getKey());
            assertEquals(weights[j++] * 1000, e.getValue(), 400, "resolution " + e.getKey());
        }
        for (int i = 0; i < 300; i++) {
            Mbv2Arch a = sampler.sample(rnd);
            assertTrue(a.flops(1000) <= 600e6);
            assertEquals(a, Mbv2Arch.parse(a.toString()));
            assertEquals(9, a.blocks().size());
            assertEquals(4, a.blocks().stream().skip(1).limit(7).filter(b -> b.stride() == 2).count(), "four stride-2 blocks of seven");
            for (Mbv2Arch.Block b : a.blocks()) assertEquals(0, b.out() % 8, "widths are multiples of 8: " + a);
            assertTrue(a.blocks().getLast().out() >= 128 && a.blocks().getLast().out() <= 1536);
            Mbv2Arch c = sampler.mutate(a, rnd);
            assertTrue(c.flops(1000) <= 600e6);
            int changed = -1;
            for (int b = 1; b <= 7; b++) {
                Mbv2Arch.ResBlock pb = (Mbv2Arch.ResBlock) a.blocks().get(b), cb = (Mbv2Arch.ResBlock) c.blocks().get(b);
                assertEquals(pb.stride(), cb.stride(), "strides are kept");
                if (pb.e() != cb.e() || pb.k() != cb.k()) {
                    assertEquals(-1, changed, "one block gets a new (e, k): " + a + " -> " + c);
                    changed = b;
                }
            }
            assertTrue(changed > 0, "one block gets a new (e, k)");
            for (int b = 0; b < 9; b++) {
                if (b != changed - 1) assertEquals(a.blocks().get(b).out(), c.blocks().get(b).out(), "only the mutated block's input width moves");
            }
        }
    }

    @Test
    void reinforceChoicesDecodeIntoCandidatesWithinTheLimitAndRepeatedStridePositionsAreRedrawn() {
        SearchSpace.Policy p = new io.wrcor.space.mbv2.Mbv2Space(600e6).policy();
        int[] k = p.categorical();
        assertEquals(9 + 7 + 7 + 7 + 7 + 1 + 4, k.length);
        assertEquals(5, k[0], "c0 over 16..48 in steps of 8");
        assertEquals(177, k[8], "c8 over 128..1536 in steps of 8");
        assertEquals(5, k[9 + 7 + 7 + 7 + 7], "resolutions 192..320 in steps of 32");
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(2);
        int accepted = 0, repeated = 0;
        for (int i = 0; i < 2000; i++) {
            int[] choice = new int[k.length];
            for (int j = 0; j < k.length; j++) choice[j] = rnd.nextInt(k[j]);
            Arch a = p.decoder().decode(choice, new boolean[0]);
            java.util.Set<Integer> pos = new java.util.HashSet<>();
            for (int j = k.length - 4; j < k.length; j++) pos.add(choice[j]);
            if (pos.size() < 4) {
                assertEquals(null, a, "repeated stride-2 positions are redrawn");
                repeated++;
            } else if (a != null) {
                assertTrue(((Mbv2Arch) a).flops(1000) <= 600e6);
                accepted++;
            }
        }
        assertTrue(accepted > 50 && repeated > 50, accepted + " accepted, " + repeated + " with repeated positions");
    }

    private static void assertMessage(String s, String mentions) {
        String m = assertThrows(IllegalArgumentException.class, () -> Mbv2Arch.parse(s)).getMessage();
        assertTrue(m.contains(mentions), "'" + mentions + "' in: " + m);
    }
}
