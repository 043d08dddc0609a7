package io.wrcor.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.wrcor.Fixtures;
import io.wrcor.space.nb201.Nb201Space;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GroundTruthTest {
    @TempDir
    Path tmp;

    @Test
    void loadsTheBenchmarkTableInIndexOrder() {
        GroundTruth gt = GroundTruth.load(Fixtures.shared().resolve("data/nb201-accuracy.csv"), Nb201Space.INSTANCE);
        assertEquals(15625, gt.size());
        // the README of the data: best CIFAR-10 94.37 at indices 6111 and 13714
        assertEquals(94.37, gt.accuracy(0, 6111), 0.005);
        assertEquals(1, gt.rank(0, 6111));
        assertEquals(6111, gt.indexOf(gt.arch(6111)));
        assertEquals(73.51, gt.accuracy(1, 9930), 0.005);
    }

    @Test
    void missingOrMalformedFilesAreNamed() throws IOException {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> GroundTruth.load(tmp.resolve("none.csv"), Nb201Space.INSTANCE)).getMessage()
                .contains("does not exist"));
        Path bad = tmp.resolve("bad.csv");
        Files.writeString(bad, "a,b,c\n1,2,3\n");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> GroundTruth.load(bad, Nb201Space.INSTANCE)).getMessage().contains("header"));
        Path badRow = tmp.resolve("badrow.csv");
        Files.writeString(badRow, "CIFAR10TestAccuracy200Epochs,CIFAR100TestAccuracy200Epochs,ImageNetTestAccuracy200Epochs,ArchitectureString\n"
                + "90,70,40,|none~0|+|none~0|none~1|+|none~0|none~1|none~2|\nx,70,40,|none~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|\n");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> GroundTruth.load(badRow, Nb201Space.INSTANCE)).getMessage().contains("line 3"));
    }

    @Test
    void anArchitectureMissingFromTheTableIsAClearError() throws IOException {
        Path small = tmp.resolve("small.csv");
        Files.writeString(small, "CIFAR10TestAccuracy200Epochs,CIFAR100TestAccuracy200Epochs,ImageNetTestAccuracy200Epochs,ArchitectureString\n"
                + "90,70,40,|none~0|+|none~0|none~1|+|none~0|none~1|none~2|\n");
        GroundTruth gt = GroundTruth.load(small, Nb201Space.INSTANCE);
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> gt.indexOf("|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|")).getMessage().contains("not in the ground-truth"));
    }
}
