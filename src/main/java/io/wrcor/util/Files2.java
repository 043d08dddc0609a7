package io.wrcor.util;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.util.List;

/**
 * Reading files with errors a user can act on: every failure names the file, what it was read as,
 * and the operating system's reason ("permission denied", "is a directory", "no space left on
 * device"), never a bare exception class. Text is strict UTF-8 with a leading byte-order mark
 * dropped.
 */
public final class Files2 {
    private Files2() {
    }

    /** "{@code what} {@code path}: {@code reason}", e.g. "arch file a.txt: permission denied". */
    public static IllegalArgumentException error(String what, Path path, IOException e) {
        return new IllegalArgumentException(what + " " + path + ": " + reason(e));
    }

    /** The operating system's reason for an I/O failure, in lower case, without the path it names. */
    public static String reason(IOException e) {
        if (e instanceof NoSuchFileException) return "does not exist";
        if (e instanceof AccessDeniedException) return "permission denied";
        if (e instanceof NotDirectoryException) return "is not a folder";
        if (e instanceof CharacterCodingException) return "is not valid UTF-8 text";
        if (e instanceof FileSystemException f && f.getReason() != null) return lowerFirst(f.getReason());
        String m = e.getMessage();
        if (m == null) return e.getClass().getSimpleName();
        // java.io reports "path (Reason)"; keep the reason
        int open = m.lastIndexOf(" ("), close = m.lastIndexOf(')');
        if (open >= 0 && close == m.length() - 1) m = m.substring(open + 2, close);
        return lowerFirst(m);
    }

    private static String lowerFirst(String s) {
        // "No space left on device" -> "no space left on device"; keep acronyms such as "EOF"
        if (s.length() > 1 && Character.isUpperCase(s.charAt(0)) && Character.isLowerCase(s.charAt(1))) {
            return Character.toLowerCase(s.charAt(0)) + s.substring(1);
        }
        return s;
    }

    /** The largest file {@link #readBytes(String, Path)} reads whole: 1 GiB. */
    public static final long MAX_READ_BYTES = 1L << 30;

    /**
     * A regular file (links followed), else an error naming it: a folder, a FIFO, a device or a
     * socket is refused before it is opened (reading a FIFO with no writer blocks forever).
     */
    public static void requireRegularFile(String what, Path path) {
        java.nio.file.attribute.BasicFileAttributes a;
        try {
            a = Files.readAttributes(path, java.nio.file.attribute.BasicFileAttributes.class);
        } catch (IOException e) {
            throw error(what, path, e);
        }
        if (a.isDirectory()) throw new IllegalArgumentException(what + " " + path + ": is a folder, not a file");
        if (!a.isRegularFile()) throw new IllegalArgumentException(what + " " + path + ": is not a regular file (a FIFO, device or socket?)");
    }

    /** The whole file as bytes; a folder, a FIFO or device, a missing or unreadable file, or one over 1 GiB is an error naming it. */
    public static byte[] readBytes(String what, Path path) {
        return readBytes(what, path, MAX_READ_BYTES);
    }

    /** The whole file as bytes, at most {@code maxBytes} of them (a larger file is an error naming it and the limit). */
    public static byte[] readBytes(String what, Path path, long maxBytes) {
        requireRegularFile(what, path);
        try (var ch = java.nio.channels.FileChannel.open(path, java.nio.file.StandardOpenOption.READ)) {
            long size = ch.size();
            if (size > maxBytes) {
                throw new IllegalArgumentException(what + " " + path + ": " + size + " bytes, over the limit of " + maxBytes + " for it");
            }
            ByteBuffer buf = ByteBuffer.allocate((int) size);
            while (buf.hasRemaining() && ch.read(buf) >= 0) {
                // a file that shrinks while read ends early; one that grows is read to its size at open
            }
            return buf.position() == size ? buf.array() : java.util.Arrays.copyOf(buf.array(), buf.position());
        } catch (IOException e) {
            throw error(what, path, e);
        }
    }

    /** The length of {@code bytes} up to and including its last newline: what an append-only file holds whole after a crash mid-write. */
    public static int wholeLines(byte[] bytes) {
        int keep = bytes.length;
        while (keep > 0 && bytes[keep - 1] != '\n') keep--;
        return keep;
    }

    /** The file as strict UTF-8 text, a leading byte-order mark dropped. */
    public static String readText(String what, Path path) {
        return decode(what, path, readBytes(what, path));
    }

    /** The file as strict UTF-8 text, at most {@code maxBytes} long. */
    public static String readText(String what, Path path, long maxBytes) {
        return decode(what, path, readBytes(what, path, maxBytes));
    }

    /** The file's lines (strict UTF-8, byte-order mark dropped). */
    public static List<String> readLines(String what, Path path) {
        return readText(what, path).lines().toList();
    }

    /** Strict UTF-8 decoding: an invalid byte is an error naming the file and its offset. */
    public static String decode(String what, Path path, byte[] bytes) {
        int start = bytes.length >= 3 && (bytes[0] & 0xff) == 0xEF && (bytes[1] & 0xff) == 0xBB && (bytes[2] & 0xff) == 0xBF ? 3 : 0;
        var decoder = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        try {
            return decoder.decode(ByteBuffer.wrap(bytes, start, bytes.length - start)).toString();
        } catch (CharacterCodingException e) {
            int bad = firstInvalidUtf8(bytes, start);
            throw new IllegalArgumentException(what + " " + path + ": is not valid UTF-8 text (byte " + bad + " is 0x"
                    + String.format("%02x", bytes[bad] & 0xff) + ")");
        }
    }

    /** The offset of the first byte that does not belong to a valid UTF-8 sequence. */
    private static int firstInvalidUtf8(byte[] b, int from) {
        int i = from;
        while (i < b.length) {
            int c = b[i] & 0xff;
            int len = c < 0x80 ? 1 : c >= 0xC2 && c < 0xE0 ? 2 : c >= 0xE0 && c < 0xF0 ? 3 : c >= 0xF0 && c < 0xF5 ? 4 : 0;
            if (len == 0) return i;
            for (int k = 1; k < len; k++) {
                if (i + k >= b.length || (b[i + k] & 0xC0) != 0x80) return i;
            }
            i += len;
        }
        return b.length - 1;
    }
}
