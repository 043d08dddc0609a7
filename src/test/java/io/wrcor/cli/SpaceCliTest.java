package io.wrcor.cli;

import static io.wrcor.cli.CliTest.assertBadInput;
import static io.wrcor.cli.CliTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.wrcor.Fixtures;
import io.wrcor.util.Json;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The commands in another space than the default: --space nb101, and a weights folder that names its space. */
class SpaceCliTest {
    static final String SPEC = "0110000;0001001;0001100;0000001;0000010;0000001;0000000 "
            + "input;conv3x3-bn-relu;conv1x1-bn-relu;conv3x3-bn-relu;maxpool3x3;conv1x1-bn-relu;output";
    static final String[] SMALL = {"--space", "nb101", "--channels", "4", "--cells", "1", "--batch", "8", "--quiet"};

    @TempDir
    Path tmp;

    static String[] with(String command, String... options) {
        return java.util.stream.Stream.of(new String[]{command}, SMALL, options).flatMap(java.util.Arrays::stream).toArray(String[]::new);
    }

    @Test
    @SuppressWarnings("unchecked")
    void aWeightsFolderOfNb101IsScoredWithNoOtherFlagAndTheInPlaceCaseIsSaid() {
        CliTest.Run r = run("score", "--weights", Fixtures.fixture("nb101/small-inplace").toString(), "--proxies", "wrcor,naswot", "--quiet");
        assertEquals(0, r.code(), r.err());
        Map<String, Object> row = Json.parseObject(r.out().strip());
        Map<String, Object> want = (Map<String, Object>) Fixtures.expected("nb101/small-inplace").get("scores");
        Map<String, Object> got = (Map<String, Object>) row.get("scores");
        assertEquals((Double) want.get("wrcor"), (Double) got.get("wrcor"), 1e-4 * (Double) want.get("wrcor"));
        assertTrue(r.err().contains("the published port raises on this spec"), r.err());
        assertTrue(((String) row.get("run")).startsWith("space=nb101 "), (String) row.get("run"));
        assertEquals(io.wrcor.space.nb101.Nb101Cells.hash(io.wrcor.space.nb101.Nb101Spec.parse((String) row.get("arch"))), row.get("hash"),
                "NAS-Bench-101's graph hash with every row");
    }

    @Test
    void scoreSampleAndSearchWorkInNb101() throws Exception {
        CliTest.Run one = run(with("score", "--arch", SPEC, "--proxies", "naswot,params,flops"));
        assertEquals(0, one.code(), one.err());
        CliTest.Run sample = run(with("score", "--sample", "4", "--proxies", "params"));
        assertEquals(0, sample.code(), sample.err());
        assertEquals(4, sample.out().lines().count());
        Path dir = tmp.resolve("s");
        CliTest.Run search = run(with("search", "--n", "6", "--population", "3", "--tournament", "2", "--objective", "naswot",
                "--gt", Fixtures.shared().resolve("data/nb101-val-accuracy-500.csv").toString(), "--run-dir", dir.toString()));
        assertEquals(0, search.code(), search.err());
        assertTrue(search.out().contains("  found      "), search.out());
        assertEquals(6, Files.readAllLines(dir.resolve("trajectory.jsonl")).size());
        CliTest.Run reinforce = run(with("search", "--algo", "reinforce", "--calibration", "3", "--n", "4", "--objective", "params", "--no-gt",
                "--run-dir", tmp.resolve("r").toString()));
        assertEquals(0, reinforce.code(), reinforce.err());
    }

    @Test
    void correlateOnTheNb101ValidationTable() {
        CliTest.Run r = run(with("correlate", "--sample", "6", "--proxies", "params,flops", "--votes", "params,flops", "--run-dir",
                tmp.resolve("c").toString()));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("6 nb101 architectures"), r.out());
        assertTrue(r.out().contains("cifar10-val rho"), r.out());
    }

    @Test
    @SuppressWarnings("unchecked")
    void mbv2WeightsFolderAndAStructureOnTheCommandLine() {
        CliTest.Run r = run("score", "--weights", Fixtures.fixture("mbv2/small-k3").toString(), "--proxies", "wrcor,params,flops", "--quiet");
        assertEquals(0, r.code(), r.err());
        Map<String, Object> scores = (Map<String, Object>) Json.parseObject(r.out().strip()).get("scores");
        Map<String, Object> counts = (Map<String, Object>) Fixtures.expected("mbv2/small-k3").get("counts");
        assertEquals(counts.get("params"), scores.get("params"), "the published get_model_size");
        assertEquals(counts.get("flops"), scores.get("flops"), "the published get_FLOPs");
        String arch = "SuperConvK3BNRELU(3,8,2,1)SuperResIDWE2K5(8,16,2,8,1)SuperConvK1BNRELU(16,32,1,1)@48";
        CliTest.Run s = run("score", "--space", "mbv2", "--arch", arch, "--classes", "10", "--batch", "4", "--proxies", "wrcor,wrcor_relu_only,naswot",
                "--quiet");
        assertEquals(0, s.code(), s.err());
        assertTrue(s.out().contains("\"arch\": \"" + arch + "\""), s.out());
        assertBadInput(run("score", "--space", "mbv2", "--arch", arch.replace("(8,16", "(9,16")), "takes 9 channels");
        assertBadInput(run("score", "--space", "nb201", "--flops-limit", "4e8", "--arch", "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"),
                "has no FLOPs limit");
    }

    /** Published genotypes by name: the structure of the shared table, and its published FLOPs and size. */
    @Test
    @SuppressWarnings("unchecked")
    void publishedGenotypesCanBeNamed() throws Exception {
        CliTest.Run r = run("score", "--space", "mbv2", "--arch", "@MobileNetV2", "--arch", "@EA_our_vote_600M", "--proxies", "flops,params", "--quiet");
        assertEquals(0, r.code(), r.err());
        List<String> rows = r.out().lines().toList();
        assertEquals(2, rows.size(), r.out());
        Map<String, String[]> table = new java.util.HashMap<>();
        for (String line : Files.readAllLines(Fixtures.shared().resolve("data/mbv2-flops.csv"))) {
            String[] f = line.split(",(?=(?:[^\"]*\"[^\"]*\")*[^\"]*$)");
            table.put(f[0], f);
        }
        for (int i = 0; i < 2; i++) {
            String[] want = table.get(i == 0 ? "MobileNetV2" : "EA_our_vote_600M");
            Map<String, Object> row = Json.parseObject(rows.get(i));
            assertEquals(want[2].replace("\"", "") + "@" + want[3], row.get("arch"));
            Map<String, Object> scores = (Map<String, Object>) row.get("scores");
            assertEquals(Double.parseDouble(want[4]), (Double) scores.get("flops"), 0.0, "published get_FLOPs");
            assertEquals(Double.parseDouble(want[5]), (Double) scores.get("params"), 0.0, "published get_model_size");
        }
        assertBadInput(run("score", "--space", "mbv2", "--arch", "@NoSuchNet", "--proxies", "flops"), "no published genotype named 'NoSuchNet'");
        assertBadInput(run("score", "--arch", "@MobileNetV2", "--proxies", "flops"), "published genotypes of the mbv2 space");
    }

    /** --data DIR: an ImageFolder of real CIFAR-10 images as PNG and JPEG; a corrupt image is one line naming it, exit 2. */
    @Test
    void anImageFolderFeedsTheMbv2Network() throws Exception {
        Path dir = io.wrcor.data.ImageFolderTest.makeFolder(tmp.resolve("imgs"));
        String arch = "SuperConvK3BNRELU(3,8,2,1)SuperResIDWE2K5(8,16,2,8,1)SuperConvK1BNRELU(16,32,1,1)@48";
        CliTest.Run r = run("score", "--space", "mbv2", "--arch", arch, "--classes", "10", "--data", dir.toString(), "--batch", "4",
                "--proxies", "wrcor,naswot", "--quiet");
        assertEquals(0, r.code(), r.err());
        Map<String, Object> row = Json.parseObject(r.out().strip());
        assertTrue(((Map<?, ?>) row.get("scores")).get("wrcor") instanceof Double, r.out());
        Files.write(dir.resolve("cat/broken.jpg"), new byte[]{(byte) 0xff, (byte) 0xd8, 1, 2, 3});
        assertBadInput(run("score", "--space", "mbv2", "--arch", arch, "--classes", "10", "--data", dir.toString(), "--batch", "6",
                "--proxies", "naswot"), "broken.jpg");
    }

    /** The ImageNet search end to end, tiny: the found network's size and resolution, both WRCor variants, no accuracy table. */
    @Test
    void anMbv2SearchReportsTheFoundNetwork() throws Exception {
        Path dir = tmp.resolve("mbv2");
        CliTest.Run r = run("search", "--space", "mbv2", "--n", "4", "--population", "2", "--tournament", "2", "--batch", "4", "--quiet",
                "--run-dir", dir.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("has no accuracy table"), r.err());
        assertTrue(r.out().matches("(?s).*  size       [0-9.]+M FLOPs, [0-9.]+M params, resolution (192|224|256|288|320), .*"), r.out());
        assertTrue(r.out().contains("\"wrcor_relu_only\": "), "WRCor over the main-path ReLUs is reported beside the published sites: " + r.out());
        assertTrue(r.out().contains("bin/wrcor score --space mbv2 --arch "), r.out());
        assertEquals(4, Files.readAllLines(dir.resolve("trajectory.jsonl")).size());
        for (String line : Files.readAllLines(dir.resolve("scores.jsonl"))) {
            Map<String, Object> row = Json.parseObject(line);
            double flops = (Double) ((Map<?, ?>) Json.parseObject(run("score", "--space", "mbv2", "--arch", (String) row.get("arch"),
                    "--proxies", "flops", "--quiet").out().strip()).get("scores")).get("flops");
            assertTrue(flops <= 600e6, "every candidate keeps to the default FLOPs limit: " + flops);
        }
    }

    @Test
    void badSpaceInputIsRejected() {
        assertBadInput(run("score", "--space", "nb301", "--arch", SPEC), "unknown space 'nb301'");
        assertBadInput(run(with("score", "--arch", "0110;0001 input;output")), "has 4 entries");
        assertBadInput(run("score", "--arch", SPEC), "expected 3 node groups");
        assertBadInput(run("score", "--space", "nb201", "--weights", Fixtures.fixture("nb101/small-mixed").toString()),
                "--space nb201 conflicts with --weights");
        assertBadInput(run("score", "--sample", "15626", "--proxies", "params"), "larger than the 15625 architectures");
        assertTrue(List.of(Main.usage("score").split("\n")).stream().anyMatch(l -> l.contains("--space")), "score --help names --space");
    }
}
