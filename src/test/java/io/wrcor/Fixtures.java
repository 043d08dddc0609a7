package io.wrcor;

import io.wrcor.data.TensorFolder;
import io.wrcor.util.Json;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/** Locates ../shared (fixtures and data) for tests. */
public final class Fixtures {
    private Fixtures() {
    }

    /**
     * The shared folder: $WRCOR_SHARED, else -Dwrcor.shared (the pom sets ../shared). A test that
     * needs it and does not find it fails with this one line first.
     */
    public static Path shared() {
        String env = System.getenv("WRCOR_SHARED");
        Path p = Path.of(env != null && !env.isBlank() ? env : System.getProperty("wrcor.shared", "../shared"));
        if (!Files.isDirectory(p)) {
            throw new IllegalStateException("the shared folder " + p.toAbsolutePath().normalize() + " does not exist (looked at "
                    + (env != null && !env.isBlank() ? "$WRCOR_SHARED" : "-Dwrcor.shared, default ../shared beside the project")
                    + "); it holds the fixtures and data the tests compare with, see the README's 'Data' section");
        }
        if (!Files.isDirectory(p.resolve("fixtures"))) {
            throw new IllegalStateException("the shared folder " + p.toAbsolutePath().normalize() + " has no fixtures/ folder; see the README's 'Data' section");
        }
        return p;
    }

    public static Path nb201(String name) {
        return fixture("nb201/" + name);
    }

    /** A fixture folder by id, "space/case" (e.g. "nb101/small-mixed"). */
    public static Path fixture(String id) {
        return shared().resolve("fixtures").resolve(id);
    }

    /** The NAS-Bench-201 cases, by name. */
    public static List<String> nb201Cases() {
        return cases("nb201").stream().map(id -> id.substring("nb201/".length())).toList();
    }

    /** Every case of one space, as ids "space/case". */
    public static List<String> cases(String space) {
        try (Stream<Path> s = Files.list(shared().resolve("fixtures").resolve(space))) {
            return s.filter(Files::isDirectory).map(p -> space + "/" + p.getFileName()).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Every case of the spaces the engine has, as ids "space/case". */
    /**
     * Whether tests parameterised by backend run {@code backend}: all of them, unless the system
     * property {@code wrcor.test.backends} lists some (bin/test's BLAS matrix reruns the CPU ones).
     */
    public static boolean testsBackend(String backend) {
        String only = System.getProperty("wrcor.test.backends", "");
        return only.isBlank() || List.of(only.split(",")).contains(backend);
    }

    public static List<String> allCases() {
        return Stream.of("nb201", "nb101", "mbv2").flatMap(s -> cases(s).stream()).toList();
    }

    public static Map<String, Object> expected(String id) {
        try {
            return Json.parseObject(Files.readString(fixture(id).resolve("expected.json")));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static double[] float64File(Path p) {
        return (double[]) mapped(p, m -> m.toArray(ValueLayout.JAVA_DOUBLE_UNALIGNED));
    }

    public static float[] float32File(Path p) {
        return (float[]) mapped(p, m -> m.toArray(ValueLayout.JAVA_FLOAT_UNALIGNED));
    }

    private static Object mapped(Path p, java.util.function.Function<MemorySegment, Object> read) {
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ); Arena a = Arena.ofShared()) {
            return read.apply(ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), a));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static TensorFolder load(String id, Arena arena) {
        return TensorFolder.load(fixture(id), arena);
    }

    /** The network (with BN) of a loaded fixture's architecture, in its space and size. */
    public static io.wrcor.graph.Graph graph(TensorFolder f) {
        io.wrcor.space.SearchSpace space = io.wrcor.Engine.spaceOf(f);
        return space.build(space.archOf(f.meta()), io.wrcor.Engine.sizeOf(f), true);
    }
}
