package io.wrcor.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.wrcor.InFlight;
import io.wrcor.backend.cpu.FastCpuBackend;
import io.wrcor.data.Batch;
import io.wrcor.data.Cifar10;
import io.wrcor.proxy.Scorer;
import io.wrcor.space.Arch;
import io.wrcor.space.SearchSpace;
import io.wrcor.space.SearchSpaces;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@code --devices}: the in-flight lanes spread over several devices, lane i on device i mod n (the
 * device itself for the first n lanes, then new lanes of it), with the scores one lane computes
 * alone. Here the devices are CPU backends standing in for GPUs (the plumbing is the same: one
 * backend per device, lanes made by each); a device that does not exist is one line.
 */
class DevicesTest {
    @Test
    void lanesGoRoundTheDevicesAndScoreAsOneLaneDoes() {
        SearchSpace space = SearchSpaces.get("nb201");
        List<Arch> archs = InFlightTest.archs(space, 6);
        try (Arena a = Arena.ofShared(); FastCpuBackend one = new FastCpuBackend(1); FastCpuBackend d0 = new FastCpuBackend(1);
             FastCpuBackend d1 = new FastCpuBackend(1)) {
            Batch batch = Cifar10.synthetic(8, 10, InFlightTest.NET.imageSize(), 3, a);
            List<Scorer.Result> want = InFlightTest.scores(one, space, batch, archs, 1);
            List<Backend> devices = List.of(d0, d1);
            List<Scorer.Result> got = new ArrayList<>();
            try (InFlight lanes = new InFlight(devices, space, InFlightTest.NET, batch, 4)) {
                assertSame(d0, lanes.backend(0));
                assertSame(d1, lanes.backend(1));
                for (int i = 2; i < 4; i++) {
                    assertNotSame(d0, lanes.backend(i));
                    assertNotSame(d1, lanes.backend(i));
                }
                lanes.score(archs, 5, null, InFlightTest.PROXIES, (i, r, s) -> got.add(r));
            }
            InFlightTest.assertSameScores(want, got, "4 lanes on 2 devices");
            // the devices are the caller's: still usable after the lanes are closed
            assertEquals(1, InFlightTest.scores(d1, space, batch, archs.subList(0, 1), 1).size());
        }
    }

    @Test
    void devicesThatDoNotExistAreOneLine() {
        assertEquals("--devices 1: the cpu backend has one device, 0",
                assertThrowsMessage(() -> Backends.openDevices("cpu", List.of(0, 1), 1)));
        assertTrue(assertThrowsMessage(() -> Backends.openDevices("cpu", List.of(0, 0), 1)).contains("names a device twice"));
        assertTrue(assertThrowsMessage(() -> Backends.openDevices("cuda", List.of(0), 1)).startsWith("cuda backend unavailable: "));
        assertTrue(assertThrowsMessage(() -> Backends.openDevices("auto", List.of(0), 1)).contains("--devices needs --backend cuda, opencl or cpu"));
        String cl = assertThrowsMessage(() -> Backends.openDevices("opencl", List.of(0, 7), 1));
        assertTrue(cl.startsWith("opencl backend unavailable: "), cl);
        if (!cl.contains("no OpenCL")) assertTrue(cl.contains("device 7 asked for, but this machine has"), cl);
    }

    @Test
    void theCommandLineTakesDevicesAndRefusesMissingOnesInOneLine() {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream(), err = new java.io.ByteArrayOutputStream();
        String[] small = {"score", "--channels", "4", "--cells", "1", "--batch", "8", "--sample", "2", "--proxies", "wrcor", "--quiet"};
        int ok = io.wrcor.cli.Main.run(concat(small, "--devices", "0"), new java.io.PrintStream(out, true), new java.io.PrintStream(err, true));
        assertEquals(0, ok, err.toString());
        assertEquals(2, out.toString().lines().count());
        for (String[] bad : List.of(new String[]{"--devices", "0,1"}, new String[]{"--devices", "x"}, new String[]{"--devices", "0", "--backend", "cuda"},
                new String[]{"--devices", "0", "--in-flight", "1", "--backend", "auto"})) {
            java.io.ByteArrayOutputStream e = new java.io.ByteArrayOutputStream();
            int code = io.wrcor.cli.Main.run(concat(small, bad), new java.io.PrintStream(new java.io.ByteArrayOutputStream(), true), new java.io.PrintStream(e, true));
            assertEquals(2, code, String.join(" ", bad) + ": " + e);
            assertEquals(1, e.toString().strip().lines().count(), "one line: " + e);
            assertTrue(e.toString().startsWith("wrcor: error: "), e.toString());
        }
    }

    private static String[] concat(String[] a, String... b) {
        String[] r = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    private static String assertThrowsMessage(org.junit.jupiter.api.function.Executable e) {
        return org.junit.jupiter.api.Assertions.assertThrows(RuntimeException.class, e).getMessage();
    }
}
