import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import javax.xml.parsers.DocumentBuilderFactory;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

/**
 * Prints a short summary of surefire's XML reports: counts, every failure with its message, and
 * skipped tests grouped by reason. Run by bin/test: java bin/TestSummary.java target/surefire-reports
 */
public class TestSummary {
    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args.length > 0 ? args[0] : "target/surefire-reports");
        if (!Files.isDirectory(dir)) {
            System.out.println("tests: no reports in " + dir + " (the build failed before the tests ran)");
            return;
        }
        List<Path> files;
        try (Stream<Path> s = Files.list(dir)) {
            files = s.filter(p -> p.getFileName().toString().matches("TEST-.*\\.xml")).sorted().toList();
        }
        int run = 0, failed = 0, skipped = 0;
        double secs = 0;
        List<String> failures = new ArrayList<>();
        Map<String, List<String>> skipReasons = new TreeMap<>();
        var factory = DocumentBuilderFactory.newInstance();
        for (Path f : files) {
            Element suite = factory.newDocumentBuilder().parse(f.toFile()).getDocumentElement();
            secs += parse(suite.getAttribute("time"));
            NodeList cases = suite.getElementsByTagName("testcase");
            for (int i = 0; i < cases.getLength(); i++) {
                Element c = (Element) cases.item(i);
                run++;
                String name = simple(c.getAttribute("classname")) + "." + c.getAttribute("name");
                Element fail = first(c, "failure"), err = first(c, "error"), skip = first(c, "skipped");
                if (fail != null || err != null) {
                    failed++;
                    Element e = fail != null ? fail : err;
                    String msg = e.getAttribute("message");
                    if (msg.isEmpty()) msg = e.getTextContent().strip().lines().findFirst().orElse("");
                    failures.add(name + ": " + oneLine(msg));
                } else if (skip != null) {
                    skipped++;
                    String msg = skip.getAttribute("message");
                    if (msg.isEmpty()) msg = skip.getTextContent().strip().lines().findFirst().orElse("(no reason given)");
                    msg = oneLine(msg.replaceFirst("^org\\.opentest4j\\.TestAbortedException: ", "").replaceFirst("^Assumption failed: ", ""));
                    skipReasons.computeIfAbsent(msg, k -> new ArrayList<>()).add(name);
                }
            }
        }
        System.out.printf("%d tests run in %d classes (%.0f s in the test JVM)%n", run, files.size(), secs);
        if (!failures.isEmpty()) {
            System.out.println("failed:");
            for (String f : failures) System.out.println("  " + f);
        }
        if (!skipReasons.isEmpty()) {
            System.out.println("skipped (not passed):");
            for (var e : skipReasons.entrySet()) {
                List<String> who = e.getValue();
                String names = who.size() <= 2 ? String.join(", ", who) : who.getFirst() + " and " + (who.size() - 1) + " more";
                System.out.printf("  %d: %s  [%s]%n", who.size(), e.getKey(), names);
            }
        }
        // the plain closing line CI reads
        System.out.printf("tests: %d passed, %d failed, %d skipped%n", run - failed - skipped, failed, skipped);
    }

    private static Element first(Element parent, String tag) {
        NodeList l = parent.getElementsByTagName(tag);
        return l.getLength() == 0 ? null : (Element) l.item(0);
    }

    private static String simple(String cls) {
        return cls.substring(cls.lastIndexOf('.') + 1);
    }

    private static String oneLine(String s) {
        String t = s.replaceAll("\\s+", " ").strip();
        return t.length() > 300 ? t.substring(0, 297) + "..." : t;
    }

    private static double parse(String s) {
        try {
            return Double.parseDouble(s.replace(",", ""));
        } catch (NumberFormatException e) {
            return 0;
        }
    }
}
