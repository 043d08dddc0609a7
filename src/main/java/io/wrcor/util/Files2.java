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

    /** The whole file as bytes; a folder, a missing file or an unreadable one is an error naming it. */
    public static byte[] readBytes(String what, Path path) {
        if (Files.isDirectory(path)) throw new IllegalArgumentException(what + " " + path + ": is a folder, not a file");
        try {
            return Files.readAllBytes(path);
        } catch (IOException e) {
            throw error(what, path, e);
        }
    }

    /** The file as strict UTF-8 text, a leading byte-order mark dropped. */
    public static String readText(String what, Path path) {
        return decode(what, path, readBytes(what, path));
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
