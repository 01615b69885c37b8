package dev.osprey.data;

import dev.osprey.NDArray;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;
import java.util.zip.GZIPInputStream;

/**
 * CIFAR-10 in its official binary format: five training batches and a test batch of records of one label byte and
 * 3,072 pixel bytes (the red, green and blue planes of a 32x32 image), read as (N, 32, 32, 3) floats in [0, 1] with
 * class-index labels. Found in a folder, in ~/.osprey/datasets/cifar-10, or downloaded (the official archive, its
 * MD5 checked before anything is unpacked).
 */
public final class Cifar10 {
    /** The official archive of the binary version. */
    public static final String URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";
    /** The MD5 the CIFAR-10 page publishes for that archive. */
    public static final String ARCHIVE_MD5 = "c32a1d4ab5d03f1284b67883e8d87530";
    /** The ten classes, in label order. */
    public static final List<String> CLASSES = List.of("airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
            "horse", "ship", "truck");
    static final List<String> TRAIN_FILES = List.of("data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
            "data_batch_4.bin", "data_batch_5.bin");
    static final String TEST_FILE = "test_batch.bin";
    private static final int RECORD = 1 + 3 * 32 * 32;
    /** The most records one batch file may hold (the official ones hold 10,000). */
    static final int MAX_RECORDS = 100_000;
    /** The largest archive accepted from the network (the official one is 170 MB). */
    static final long MAX_ARCHIVE_BYTES = 400L << 20;

    private Cifar10() {
    }

    /** CIFAR-10 from directory (may be null), then ~/.osprey/datasets/cifar-10; downloaded there when absent. */
    public static LabeledData load(Path directory) throws IOException {
        return load(directory, URI.create(System.getProperty("osprey.cifar10.url", URL)),
                System.getProperty("osprey.cifar10.md5", ARCHIVE_MD5));
    }

    static LabeledData load(Path directory, URI source, String md5) throws IOException {
        List<Path> searched = new ArrayList<>();
        for (Path dir : Datasets.candidates(directory, "cifar-10", null)) {
            for (Path d : List.of(dir, dir.resolve("cifar-10-batches-bin"))) {
                searched.add(d);
                if (hasAll(d)) {
                    return fromDirectory(d);
                }
            }
        }
        Path cache = Datasets.userCache("cifar-10");
        boolean existed = Files.isDirectory(cache);
        try {
            download(source, md5, cache);
        } catch (IOException e) {
            throw Datasets.downloadFailed("CIFAR-10", searched, source, cache, existed, "the binary version's six batch "
                    + "files (" + String.join(", ", TRAIN_FILES) + ", " + TEST_FILE + ")", e);
        }
        if (!hasAll(cache)) {
            throw new IOException("CIFAR-10: the archive from " + source + " lacks some of " + TRAIN_FILES + " and "
                    + TEST_FILE + " (searched " + searched + ")");
        }
        return fromDirectory(cache);
    }

    private static boolean hasAll(Path dir) {
        if (!Files.isDirectory(dir)) {
            return false;
        }
        for (String f : TRAIN_FILES) {
            if (!Files.isRegularFile(dir.resolve(f))) {
                return false;
            }
        }
        return Files.isRegularFile(dir.resolve(TEST_FILE));
    }

    /** The six batch files of one folder. */
    public static LabeledData fromDirectory(Path dir) throws IOException {
        List<float[]> x = new ArrayList<>();
        List<float[]> y = new ArrayList<>();
        int rows = 0;
        for (String f : TRAIN_FILES) {
            float[][] batch = readBatch(dir.resolve(f));
            x.add(batch[0]);
            y.add(batch[1]);
            rows += batch[1].length;
        }
        float[][] test = readBatch(dir.resolve(TEST_FILE));
        return new LabeledData(new NDArray(concat(x), rows, 32, 32, 3), new NDArray(concat(y), rows, 1),
                new NDArray(test[0], test[1].length, 32, 32, 3), new NDArray(test[1], test[1].length, 1),
                "CIFAR-10 (" + dir + ")");
    }

    private static float[] concat(List<float[]> parts) {
        int n = parts.stream().mapToInt(p -> p.length).sum();
        float[] out = new float[n];
        int at = 0;
        for (float[] p : parts) {
            System.arraycopy(p, 0, out, at, p.length);
            at += p.length;
        }
        return out;
    }

    /** {pixels (N x 32 x 32 x 3, HWC in [0, 1]), labels (N)} of one batch file; clear errors for a damaged one. */
    static float[][] readBatch(Path file) throws IOException {
        long size = Files.size(file);
        if (size == 0 || size % RECORD != 0 || size / RECORD > MAX_RECORDS) {
            throw new IOException(file + " is not a CIFAR-10 batch: expected a multiple of " + RECORD + " bytes (at "
                    + "most " + MAX_RECORDS + " records), received " + size);
        }
        int n = (int) (size / RECORD);
        float[] pixels = new float[n * 3072];
        float[] labels = new float[n];
        byte[] record = new byte[RECORD];
        try (InputStream in = new BufferedInputStream(Files.newInputStream(file), 1 << 16)) {
            for (int r = 0; r < n; r++) {
                if (in.readNBytes(record, 0, RECORD) != RECORD) {
                    throw new IOException(file + " ended inside record " + r);
                }
                int label = record[0] & 0xff;
                if (label > 9) {
                    throw new IOException(file + ": record " + r + " has label " + label + "; expected 0 to 9");
                }
                labels[r] = label;
                int base = r * 3072;
                for (int c = 0; c < 3; c++) {
                    for (int p = 0; p < 1024; p++) {
                        pixels[base + p * 3 + c] = (record[1 + c * 1024 + p] & 0xff) / 255f;
                    }
                }
            }
        }
        return new float[][] {pixels, labels};
    }

    /** Downloads the archive, checks its MD5, then unpacks the six batch files (and nothing else) into target. */
    static void download(URI source, String md5, Path target) throws IOException {
        Files.createDirectories(target);
        Path tmp = Files.createTempFile(target, ".cifar-10", ".part");
        try {
            Download.to(source, tmp, MAX_ARCHIVE_BYTES);
            MessageDigest digest;
            try {
                digest = MessageDigest.getInstance("MD5");
            } catch (NoSuchAlgorithmException e) {
                throw new IllegalStateException("every Java has MD5", e);
            }
            try (InputStream in = new DigestInputStream(Files.newInputStream(tmp), digest)) {
                in.transferTo(OutputStream.nullOutputStream());
            }
            String actual = HexFormat.of().formatHex(digest.digest());
            if (!actual.equalsIgnoreCase(md5)) {
                throw new IOException("download of " + source + " failed verification: expected MD5 " + md5
                        + ", received " + actual);
            }
            unpack(tmp, target);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /**
     * Extracts the batch files from a tar.gz into target, by their base names only (no path from the archive is
     * used, so nothing lands outside target); every other entry is skipped.
     */
    static void unpack(Path archive, Path target) throws IOException {
        Set<String> wanted = new java.util.HashSet<>(TRAIN_FILES);
        wanted.add(TEST_FILE);
        try (InputStream in = new BufferedInputStream(new GZIPInputStream(Files.newInputStream(archive)), 1 << 16)) {
            byte[] header = new byte[512];
            while (in.readNBytes(header, 0, 512) == 512) {
                if (allZero(header)) {
                    break; // the end-of-archive blocks
                }
                String name = field(header, 0, 100);
                String prefix = field(header, 345, 155);
                String path = prefix.isEmpty() ? name : prefix + "/" + name;
                long size = octal(header, 124, 12, archive);
                char type = (char) header[156];
                long padded = (size + 511) / 512 * 512;
                String base = path.substring(path.lastIndexOf('/') + 1);
                if ((type == '0' || type == 0) && wanted.contains(base)) {
                    if (size > (long) MAX_RECORDS * RECORD) {
                        throw new IOException(archive + ": " + path + " declares " + size + " bytes, more than a "
                                + "CIFAR-10 batch can hold");
                    }
                    Path part = dev.osprey.io.AtomicFiles.createSibling(target.resolve(base), ".part");
                    try {
                        try (OutputStream out = Files.newOutputStream(part)) {
                            copy(in, out, size, archive);
                        }
                        dev.osprey.io.AtomicFiles.moveIntoPlace(part, target.resolve(base));
                    } finally {
                        Files.deleteIfExists(part);
                    }
                    skip(in, padded - size, archive);
                } else {
                    skip(in, padded, archive);
                }
            }
        } catch (java.util.zip.ZipException | java.io.EOFException e) {
            throw new IOException(archive + " is not a complete tar.gz archive: " + e.getMessage(), e);
        }
    }

    private static boolean allZero(byte[] b) {
        for (byte x : b) {
            if (x != 0) {
                return false;
            }
        }
        return true;
    }

    private static String field(byte[] h, int offset, int length) {
        int end = offset;
        while (end < offset + length && h[end] != 0) {
            end++;
        }
        return new String(h, offset, end - offset, StandardCharsets.US_ASCII).trim();
    }

    private static long octal(byte[] h, int offset, int length, Path archive) throws IOException {
        String s = field(h, offset, length);
        try {
            return s.isEmpty() ? 0 : Long.parseLong(s, 8);
        } catch (NumberFormatException e) {
            throw new IOException(archive + ": a tar header has size '" + s + "'; expected an octal number", e);
        }
    }

    private static void copy(InputStream in, OutputStream out, long n, Path archive) throws IOException {
        byte[] buf = new byte[1 << 16];
        while (n > 0) {
            int k = in.read(buf, 0, (int) Math.min(buf.length, n));
            if (k < 0) {
                throw new IOException(archive + " ended inside an entry");
            }
            out.write(buf, 0, k);
            n -= k;
        }
    }

    private static void skip(InputStream in, long n, Path archive) throws IOException {
        while (n > 0) {
            long k = in.skip(n);
            if (k <= 0) {
                if (in.read() < 0) {
                    throw new IOException(archive + " ended inside an entry");
                }
                k = 1;
            }
            n -= k;
        }
    }
}
