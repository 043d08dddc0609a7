package io.wrcor.space;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.wrcor.Fixtures;
import io.wrcor.eval.GroundTruth;
import io.wrcor.graph.Graph;
import io.wrcor.proxy.Scorer;
import io.wrcor.space.nb101.Nb101Cells;
import io.wrcor.space.nb101.Nb101Network;
import io.wrcor.space.nb101.Nb101Space;
import io.wrcor.space.nb101.Nb101Spec;
import java.io.IOException;
import java.nio.file.Files;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** NAS-Bench-101 specs: parsing, pruning and validity, channel widths, the published counts, search moves. */
class Nb101SpaceTest {
    static final Nb101Space SPACE = Nb101Space.INSTANCE;

    @Test
    @SuppressWarnings("unchecked")
    void fixtureSpecsPruneToTheirPrunedSpecAndGetTheirChannelWidths() {
        for (String id : Fixtures.cases("nb101")) {
            Map<String, Object> meta = (Map<String, Object>) io.wrcor.util.Json.parseObject(readManifest(id)).get("meta");
            Nb101Spec spec = Nb101Spec.parse((String) meta.get("spec"));
            assertEquals(Nb101Spec.parse((String) meta.get("pruned_spec")), spec, id);
            List<List<Double>> widths = (List<List<Double>>) meta.get("vertex_channels_per_cell");
            int c = ((Double) meta.get("stem")).intValue(), cells = ((Double) meta.get("cells")).intValue();
            assertEquals(3 * cells, widths.size());
            for (int s = 0, cell = 0; s < 3; s++) {
                int cout = s == 0 ? c : 2 * c;
                for (int i = 0; i < cells; i++, cell++) {
                    int[] want = widths.get(cell).stream().mapToInt(Double::intValue).toArray();
                    assertArrayEquals(want, Nb101Network.vertexChannels(spec, i == 0 ? c : cout, cout), id + " cell " + cell);
                }
                c = cout;
            }
        }
        Nb101Spec pruned = Nb101Spec.parse((String) ((Map<String, Object>) io.wrcor.util.Json.parseObject(readManifest("nb101/small-pruned"))
                .get("meta")).get("spec"));
        assertEquals(5, pruned.vertices(), "small-pruned: a 7-vertex spec that pruning turns into 5 vertices");
    }

    private static String readManifest(String id) {
        try {
            return Files.readString(Fixtures.fixture(id).resolve("manifest.json"));
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** params and flops of the published counts for the full network (stem 128, 3 x 3 cells), and the in-place flag. */
    @Test
    void paramsFlopsAndThePublishedBackwardFailureMatchTheTable() throws IOException {
        List<String> lines = Files.readAllLines(Fixtures.shared().resolve("data/nb101-flops.csv"));
        List<String> header = Arrays.asList(lines.getFirst().split(","));
        for (String line : lines.subList(1, lines.size())) {
            String[] f = line.split(",");
            Nb101Spec spec = SPACE.parse(f[header.indexOf("spec")]);
            assertEquals(SPACE.parse(f[header.indexOf("pruned_spec")]), spec);
            Graph g = SPACE.build(spec, SPACE.defaultSize(), true);
            assertEquals(Long.parseLong(f[header.indexOf("params")]), Scorer.params(g), f[0] + " params");
            assertEquals(Long.parseLong(f[header.indexOf("flops")]), Scorer.flops(g), f[0] + " flops");
            assertEquals(f[header.indexOf("published_backward_fails")].equals("1"), spec.publishedBackwardFails(), f[0]);
        }
    }

    @Test
    void theValidationTableLoadsWithItsRawSpecsPrunedAndFiftyNineInPlaceFailures() throws IOException {
        GroundTruth gt = GroundTruth.load(Fixtures.shared().resolve("data/nb101-val-accuracy-500.csv"), SPACE);
        assertEquals(500, gt.size());
        assertEquals(List.of("cifar10-val"), gt.datasets());
        List<String> lines = Files.readAllLines(Fixtures.shared().resolve("data/nb101-val-accuracy-500.csv"));
        List<String> header = Arrays.asList(lines.getFirst().split(","));
        int fails = 0;
        for (int i = 1; i < lines.size(); i++) {
            String[] f = lines.get(i).split(",");
            Nb101Spec raw = SPACE.parse(f[header.indexOf("raw_matrix_7x7")] + " " + f[header.indexOf("raw_ops")]);
            assertEquals(gt.arch(i - 1), raw.toString(), "row " + (i - 1) + ": the raw spec prunes to the table's pruned spec");
            assertEquals(Integer.parseInt(f[header.indexOf("num_vertices")]), raw.vertices());
            assertEquals(Integer.parseInt(f[header.indexOf("num_edges")]), raw.edges());
            if (raw.publishedBackwardFails()) fails++;
        }
        assertEquals(59, fails, "SPEC: 59 of the 500 specs make the published code raise");
    }

    @Test
    void badSpecsAreRejectedWithTheReason() {
        String ops = " input;conv3x3-bn-relu;output";
        assertMessage("0110;0001;0001 input;conv3x3-bn-relu;output", "row 1 '0110' has 4 entries");
        assertMessage("011;001;010" + ops, "is not upper triangular");
        assertMessage("011;002;000" + ops, "entries are 0 or 1");
        assertMessage("011;001;000 input;conv5x5;output", "unknown op 'conv5x5'");
        assertMessage("011;001;000 conv3x3-bn-relu;conv3x3-bn-relu;output", "the first op must be 'input'");
        assertMessage("010;000;000" + ops, "the input does not reach the output");
        assertMessage("01;00 input;conv3x3-bn-relu;output", "3 ops for 2 vertices");
        assertMessage("011;001;000", "expected the matrix rows");
        String eight = "01111111;00000001;00000001;00000001;00000001;00000001;00000001;00000000";
        assertMessage(eight + " input;maxpool3x3;maxpool3x3;maxpool3x3;maxpool3x3;maxpool3x3;maxpool3x3;output", "at most 7");
        String tenEdges = "0111111;0000011;0000011;0000011;0000001;0000001;0000000";
        assertMessage(tenEdges + " input;maxpool3x3;maxpool3x3;maxpool3x3;maxpool3x3;maxpool3x3;output", "edges after pruning");
    }

    private static void assertMessage(String spec, String mentions) {
        String m = assertThrows(IllegalArgumentException.class, () -> Nb101Spec.parse(spec)).getMessage();
        assertTrue(m.contains(mentions), "'" + mentions + "' in: " + m);
    }

    @Test
    void samplesAndMutationsAreValidAndMutationsMoveOneOpAndOneEntry() {
        SplittableRandom rnd = new SplittableRandom(3);
        Set<String> seen = new HashSet<>();
        int changed = 0;
        for (int i = 0; i < 2000; i++) {
            Nb101Spec p = SPACE.sample(rnd);
            assertEquals(p, SPACE.parse(p.toString()));
            seen.add(p.toString());
            Nb101Spec c = SPACE.mutate(p, rnd);
            assertEquals(c, SPACE.parse(c.toString()), "a valid, pruned child");
            assertTrue(c.vertices() <= p.vertices(), "a mutation of the pruned matrix never adds vertices");
            if (p.vertices() == 2) {
                assertEquals(p, c, "input -> output alone has nothing to mutate");
            } else {
                assertTrue(!c.equals(p), "an interior op always changes (or its vertex is pruned away): " + p);
                changed++;
            }
        }
        assertTrue(seen.size() > 1990, "distinct cells: " + seen.size());
        assertTrue(changed > 1900, "nearly every cell has interior vertices: " + changed);
    }

    @Test
    void policyDecodesUpperTriangularBitsAndRejectsInvalidDraws() {
        SearchSpace.Policy p = SPACE.policy();
        assertArrayEquals(new int[]{3, 3, 3, 3, 3}, p.categorical());
        assertEquals(49, p.binary());
        boolean[] none = new boolean[49];
        assertNull(p.decoder().decode(new int[5], none), "no edges: the input does not reach the output");
        boolean[] chain = new boolean[49];
        for (int i = 0; i < 6; i++) chain[i * 7 + i + 1] = true;
        chain[7 * 3] = true; // below the diagonal: ignored
        Arch a = p.decoder().decode(new int[]{0, 1, 2, 0, 1}, chain);
        assertNotNull(a);
        assertEquals("0100000;0010000;0001000;0000100;0000010;0000001;0000000 "
                + "input;conv3x3-bn-relu;conv1x1-bn-relu;maxpool3x3;conv3x3-bn-relu;conv1x1-bn-relu;output", a.toString());
    }

    /** The enumeration finds exactly the dataset's number of distinct cells: the graph hash is NAS-Bench-101's. */
    @Test
    void theEnumerationHasTheDatasetsCellsAndSamplingDrawsFromThem() {
        long[] all = Nb101Cells.all();
        assertEquals(423_624, all.length);
        assertEquals(all.length, java.util.Arrays.stream(all).distinct().count());
        Nb101Spec first = Nb101Cells.get(0), last = Nb101Cells.get(all.length - 1);
        assertEquals(2, first.vertices(), "the generator starts with input -> output");
        assertEquals(7, last.vertices());
        SplittableRandom rnd = new SplittableRandom(5);
        Set<String> drawn = new HashSet<>();
        int seven = 0;
        for (int i = 0; i < 1000; i++) {
            Nb101Spec s = SPACE.sample(rnd);
            drawn.add(s.toString());
            if (s.vertices() == 7) seven++;
        }
        assertTrue(drawn.size() > 995, "uniform over 423,624 cells: " + drawn.size() + " distinct of 1000");
        assertTrue(seven > 700, "most of the dataset's cells have 7 vertices: " + seven);
    }

    @Test
    void isomorphicSpecsShareTheHashAndTheirGroundTruthRow() {
        // vertices 1 and 2 swapped: the same cell written another way
        Nb101Spec a = Nb101Spec.parse("01100;00011;00001;00001;00000 input;conv3x3-bn-relu;maxpool3x3;conv1x1-bn-relu;output");
        Nb101Spec b = Nb101Spec.parse("01010;00101;00001;00001;00000 input;conv3x3-bn-relu;conv1x1-bn-relu;maxpool3x3;output");
        Nb101Spec c = Nb101Spec.parse("01010;00101;00001;00001;00000 input;conv3x3-bn-relu;conv3x3-bn-relu;maxpool3x3;output");
        assertEquals(Nb101Cells.hash(a), Nb101Cells.hash(b));
        assertTrue(!Nb101Cells.hash(a).equals(Nb101Cells.hash(c)), "another op is another cell");
        GroundTruth gt = GroundTruth.load(Fixtures.shared().resolve("data/nb101-val-accuracy-500.csv"), SPACE);
        assertTrue(gt.contains(a.toString()) && gt.contains(b.toString()), "the table lists this cell (row 1) in one of its forms");
        assertEquals(gt.indexOf(a.toString()), gt.indexOf(b.toString()));
    }

    @Test
    void registryFindsTheSpaceByNameAndByAFolderMeta() {
        assertEquals(SPACE, SearchSpaces.get("nb101"));
        assertEquals(SPACE, SearchSpaces.ofMeta(Map.of("space", "nb101")));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> SearchSpaces.get("nb301")).getMessage().contains("unknown space 'nb301'"));
    }
}
