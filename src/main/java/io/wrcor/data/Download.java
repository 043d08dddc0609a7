package io.wrcor.data;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.ConnectException;
import java.net.HttpURLConnection;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * One file over HTTP(S) into {@code FILE.part}, resumed with a range request when a part is there
 * (or restarted where the server answers without one), its MD5 checked against the published one,
 * then renamed to FILE. Every failure is one {@link IllegalStateException} line naming the address
 * and what went wrong; a checksum mismatch deletes the download.
 */
public final class Download {
    /** Seconds to wait for a connection, and for the next bytes of a stalled download ({@code -Dwrcor.download.timeoutSeconds}). */
    static int timeoutSeconds() {
        return Integer.getInteger("wrcor.download.timeoutSeconds", 30);
    }

    private Download() {
    }

    /** Downloads {@code url} to {@code file} unless it is already there with {@code md5}; returns the file. */
    public static Path fetch(URI url, String md5, Path file, PrintStream err) {
        try {
            Files.createDirectories(file.getParent());
            if (Files.isRegularFile(file)) {
                if (md5Of(file).equalsIgnoreCase(md5)) return file;
                Files.delete(file); // a stale or damaged copy: fetched again
            }
            Path part = file.resolveSibling(file.getFileName() + ".part");
            long have = Files.isRegularFile(part) ? Files.size(part) : 0;
            HttpURLConnection c = open(url, have);
            int status = c.getResponseCode();
            boolean append = have > 0 && status == HttpURLConnection.HTTP_PARTIAL;
            if (status == 416 && have > 0) {
                // the part already holds the whole file (or the server cannot serve from there): check it as it is
                c.disconnect();
            } else {
                if (status != HttpURLConnection.HTTP_OK && status != HttpURLConnection.HTTP_PARTIAL) {
                    c.disconnect();
                    throw new IllegalStateException("HTTP " + status + " from " + url);
                }
                if (have > 0) err.println(append ? "wrcor: resuming the download of " + url + " at byte " + have
                        : "wrcor: the server does not resume downloads; starting " + url + " again");
                long length = c.getContentLengthLong(); // of this answer (the rest, when resumed)
                long total = length < 0 ? -1 : (append ? have : 0) + length;
                long got = append ? have : 0;
                try (InputStream in = c.getInputStream();
                     OutputStream out = Files.newOutputStream(part, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                             append ? StandardOpenOption.APPEND : StandardOpenOption.TRUNCATE_EXISTING)) {
                    byte[] buf = new byte[1 << 16];
                    long lastReport = System.nanoTime();
                    for (int n; (n = in.read(buf)) > 0; ) {
                        out.write(buf, 0, n);
                        got += n;
                        if (System.nanoTime() - lastReport > 10_000_000_000L) {
                            lastReport = System.nanoTime();
                            err.printf("wrcor: %s: %.1f of %s MB%n", file.getFileName(), got / 1e6, total < 0 ? "?" : String.format("%.1f", total / 1e6));
                        }
                    }
                } catch (SocketTimeoutException e) {
                    throw new IllegalStateException("the download of " + url + " stalled for " + timeoutSeconds() + " s after " + got
                            + " bytes; run the command again to resume it");
                } catch (IOException e) {
                    throw new IllegalStateException("the download of " + url + " broke off after " + got + " bytes (" + io.wrcor.util.Files2.reason(e)
                            + "); run the command again to resume it");
                } finally {
                    c.disconnect();
                }
                if (total >= 0 && got < total) {
                    throw new IllegalStateException("the download of " + url + " ended after " + got + " of " + total
                            + " bytes; run the command again to resume it");
                }
            }
            String sum = md5Of(part);
            if (!sum.equalsIgnoreCase(md5)) {
                Files.delete(part);
                throw new IllegalStateException("the download of " + url + " has MD5 " + sum + ", not the published " + md5.toLowerCase()
                        + "; it was deleted: run the command again (or check the address)");
            }
            Files.move(part, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            return file;
        } catch (UnknownHostException e) {
            throw new IllegalStateException("cannot reach " + url + ": unknown host " + e.getMessage() + " (no network here?)");
        } catch (ConnectException e) {
            throw new IllegalStateException("cannot reach " + url + ": " + e.getMessage() + " (no network here?)");
        } catch (SocketTimeoutException e) {
            throw new IllegalStateException("cannot reach " + url + ": no answer within " + timeoutSeconds() + " s (no network here?)");
        } catch (IOException e) {
            throw new IllegalStateException("cannot download " + url + " to " + file + ": " + io.wrcor.util.Files2.reason(e));
        }
    }

    private static HttpURLConnection open(URI url, long from) throws IOException {
        if (!"http".equals(url.getScheme()) && !"https".equals(url.getScheme())) {
            throw new IllegalStateException("cannot download " + url + ": only http and https addresses");
        }
        HttpURLConnection c = (HttpURLConnection) url.toURL().openConnection();
        c.setConnectTimeout(timeoutSeconds() * 1000);
        c.setReadTimeout(timeoutSeconds() * 1000);
        c.setInstanceFollowRedirects(true);
        c.setRequestProperty("User-Agent", "wrcor");
        if (from > 0) c.setRequestProperty("Range", "bytes=" + from + "-");
        return c;
    }

    /** The file's MD5 in lower-case hex. */
    public static String md5Of(Path file) throws IOException {
        MessageDigest md;
        try {
            md = MessageDigest.getInstance("MD5");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        try (InputStream in = Files.newInputStream(file)) {
            byte[] buf = new byte[1 << 16];
            for (int n; (n = in.read(buf)) > 0; ) md.update(buf, 0, n);
        }
        return HexFormat.of().formatHex(md.digest());
    }
}
