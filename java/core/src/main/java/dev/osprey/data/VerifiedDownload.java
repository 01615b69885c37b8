package dev.osprey.data;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.zip.GZIPInputStream;

/**
 * Downloads a gzip file to a temporary name, checks the SHA-256 of its decompressed content, and only then
 * renames it into place. A failed or tampered download leaves nothing behind.
 */
final class VerifiedDownload {
    /** The largest file fetched: Fashion-MNIST's largest is 26 MB; a mirror sending more is cut off there. */
    static volatile long maxBytes = 256L << 20; // tests lower it

    private VerifiedDownload() {
    }

    static void fetch(URI source, Path target, String expectedContentSha256) throws IOException {
        Files.createDirectories(target.getParent());
        Path tmp = dev.osprey.io.AtomicFiles.createSibling(target, ".part");
        try {
            Download.to(source, tmp, maxBytes);
            String actual = contentSha256(tmp);
            if (!actual.equals(expectedContentSha256)) {
                throw new IOException("download of " + source + " failed verification: expected content SHA-256 "
                        + expectedContentSha256 + ", received " + actual);
            }
            dev.osprey.io.AtomicFiles.moveIntoPlace(tmp, target);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /** SHA-256 of the decompressed bytes of a gzip file. */
    static String contentSha256(Path gzip) throws IOException {
        MessageDigest digest;
        try {
            digest = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java has SHA-256", e);
        }
        try (InputStream in = new DigestInputStream(new GZIPInputStream(Files.newInputStream(gzip)), digest)) {
            in.transferTo(OutputStream.nullOutputStream());
        } catch (java.util.zip.ZipException | java.io.EOFException e) {
            throw new IOException(gzip + " is not a complete gzip file: " + e.getMessage(), e);
        }
        return HexFormat.of().formatHex(digest.digest());
    }
}
