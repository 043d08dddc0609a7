package io.wrcor.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** {@code score --all}: every architecture of the space's accuracy table, once each, in the table's order; where there is none, one line. */
class ScoreAllTest {
    @Test
    void allScoresTheSpacesTableOnceEach() {
        CliTest.Run r = CliTest.run("score", "--space", "nb101", "--all", "--proxies", "params", "--quiet");
        assertEquals(0, r.code(), r.err());
        var archs = r.out().lines().map(l -> l.substring(0, l.indexOf("\", \"scores\""))).toList();
        assertEquals(archs.size(), new java.util.HashSet<>(archs).size(), "each architecture once");
        // the table's 500 rows name fewer distinct (pruned) specs; every one of them is scored
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("wrcor: 500 architectures given, (\\d+) distinct").matcher(r.err());
        assertTrue(m.find(), r.err());
        assertEquals(Integer.parseInt(m.group(1)), archs.size());
    }

    @Test
    void allIsRefusedWhereThereIsNoTableOrBesideOtherArchitectures() {
        CliTest.Run mbv2 = CliTest.run("score", "--space", "mbv2", "--all");
        assertEquals(2, mbv2.code());
        assertEquals("wrcor: error: --all: the mbv2 space has no table of its architectures; give --arch-file or --sample", mbv2.err().strip());
        CliTest.Run both = CliTest.run("score", "--all", "--sample", "3");
        assertEquals(2, both.code());
        assertTrue(both.err().contains("give --all, or --arch, --arch-file and --sample, not both"), both.err());
    }
}
