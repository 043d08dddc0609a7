package io.wrcor.dist;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.wrcor.Engine;
import io.wrcor.Fixtures;
import io.wrcor.backend.Backends;
import io.wrcor.data.Batch;
import io.wrcor.data.TensorFolder;
import io.wrcor.graph.Weights;
import io.wrcor.proxy.Proxy;
import io.wrcor.proxy.Scorer;
import io.wrcor.results.RunKey;
import io.wrcor.space.Arch;
import io.wrcor.space.NetSize;
import io.wrcor.space.nb201.Nb201Space;
import java.lang.foreign.Arena;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** A worker given a weights folder's files: the folder rebuilt with the same digest, the scores of the folder itself; changed files refused. */
class WorkerTest {
    private static final List<Proxy> PROXIES = List.of(Proxy.WRCOR, Proxy.SYNFLOW, Proxy.NASWOT, Proxy.PARAMS);

    @Test
    void aShippedWeightsFolderScoresAsTheFolderItself() {
        try (Arena arena = Arena.ofConfined()) {
            TensorFolder folder = TensorFolder.load(Fixtures.nb201("small-allconv"), arena);
            Map<String, byte[]> files = folder.rawFiles();
            assertEquals("manifest.json", files.keySet().iterator().next());
            assertEquals(folder.digest(), TensorFolder.fromFiles(files, arena).digest(), "rebuilt from its files: the same digest");
            Nb201Space space = Nb201Space.INSTANCE;
            NetSize net = Engine.sizeOf(folder);
            Batch batch = folder.batch();
            Arch arch = space.archOf(folder.meta());
            String run = RunKey.ofFolder(space, net, folder.digest(), batch);
            WorkSpec spec = WorkSpec.of(space, net, 0, "cpu", 1, batch, run, files);
            Map<String, Double> want = new LinkedHashMap<>();
            io.wrcor.backend.Backend backend = Backends.open("cpu", 1, n -> { });
            try (Engine engine = new Engine(backend, space, net)) {
                Scorer.Result r = engine.score(arch, new Weights(folder.tensors()), batch, PROXIES);
                for (Proxy p : PROXIES) want.put(p.label, r.score(p));
            } finally {
                if (backend instanceof AutoCloseable c) {
                    try {
                        c.close();
                    } catch (Exception ignored) {
                        // released
                    }
                }
            }
            try (Worker w = new Worker(spec, 1, null)) {
                assertEquals(want, w.score(arch.toString(), PROXIES).scores(), "to the bit");
            }
            // a byte of a tensor file changed on the way (or on disk between planning and shipping): refused
            Map<String, byte[]> changed = new LinkedHashMap<>(files);
            String tensorFile = changed.keySet().stream().skip(1).findFirst().orElseThrow();
            byte[] copy = changed.get(tensorFile).clone();
            copy[0] ^= 1;
            changed.put(tensorFile, copy);
            WorkSpec bad = WorkSpec.of(space, net, 0, "cpu", 1, batch, run, changed);
            // (the fixtures' manifests give each file's sha256, checked as the folder is rebuilt; without it the digest differs from the run key's)
            RuntimeException e = assertThrows(RuntimeException.class, () -> new Worker(bad, 1, null));
            assertTrue(e.getMessage().contains("does not match the manifest's sha256") || e.getMessage().contains("run key"), e.getMessage());
        }
    }
}
