package dev.osprey.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** CIFAR-10's binary batches: read from a folder, refused when damaged, downloaded from a local server and verified. */
class Cifar10Test {
    @TempDir
    Path dir;

    /** A batch of n records: record r has label r % 10 and pixel value (r + plane * 7 + i) % 256 at plane index i. */
    static byte[] batch(int n) {
        byte[] b = new byte[n * 3073];
        for (int r = 0; r < n; r++) {
            b[r * 3073] = (byte) (r % 10);
            for (int c = 0; c < 3; c++) {
                for (int i = 0; i < 1024; i++) {
                    b[r * 3073 + 1 + c * 1024 + i] = (byte) ((r + c * 7 + i) % 256);
                }
            }
        }
        return b;
    }

    static Map<String, byte[]> files() {
        Map<String, byte[]> f = new LinkedHashMap<>();
        for (String name : Cifar10.TRAIN_FILES) {
            f.put(name, batch(2));
        }
        f.put(Cifar10.TEST_FILE, batch(3));
        return f;
    }

    @Test
    void readsTheBatchesAsChannelsLastImages() throws IOException {
        for (Map.Entry<String, byte[]> e : files().entrySet()) {
            Files.write(dir.resolve(e.getKey()), e.getValue());
        }
        LabeledData d = Cifar10.fromDirectory(dir);
        assertArrayEquals(new int[] {10, 32, 32, 3}, d.trainX().shape());
        assertArrayEquals(new int[] {3, 32, 32, 3}, d.testX().shape());
        assertArrayEquals(new float[] {0, 1, 2}, d.testY().data());
        // test record 2, row 1, column 3 (plane index 35), green (plane 1): (2 + 7 + 35) % 256 = 44
        assertEquals(44 / 255f, d.testX().data()[2 * 3072 + 35 * 3 + 1], 0f);
    }

    @Test
    void damagedBatchesAreRefused() throws IOException {
        Path partial = dir.resolve("partial.bin");
        Files.write(partial, new byte[3073 + 5]);
        assertTrue(assertThrows(IOException.class, () -> Cifar10.readBatch(partial)).getMessage()
                .contains("expected a multiple of 3073 bytes"));
        byte[] bad = batch(1);
        bad[0] = 11;
        Path label = dir.resolve("label.bin");
        Files.write(label, bad);
        assertTrue(assertThrows(IOException.class, () -> Cifar10.readBatch(label)).getMessage()
                .contains("label 11"));
    }

    /** A ustar archive of these entries, gzip-compressed. */
    static byte[] tarGz(Map<String, byte[]> entries) throws IOException {
        ByteArrayOutputStream raw = new ByteArrayOutputStream();
        for (Map.Entry<String, byte[]> e : entries.entrySet()) {
            byte[] h = new byte[512];
            byte[] name = e.getKey().getBytes(StandardCharsets.US_ASCII);
            System.arraycopy(name, 0, h, 0, name.length);
            byte[] size = String.format("%011o", e.getValue().length).getBytes(StandardCharsets.US_ASCII);
            System.arraycopy(size, 0, h, 124, size.length);
            h[156] = '0';
            System.arraycopy("ustar".getBytes(StandardCharsets.US_ASCII), 0, h, 257, 5);
            raw.write(h);
            raw.write(e.getValue());
            raw.write(new byte[(512 - e.getValue().length % 512) % 512]);
        }
        raw.write(new byte[1024]);
        ByteArrayOutputStream gz = new ByteArrayOutputStream();
        try (GZIPOutputStream out = new GZIPOutputStream(gz)) {
            out.write(raw.toByteArray());
        }
        return gz.toByteArray();
    }

    @Test
    void downloadsVerifiesAndUnpacksOnlyTheBatches() throws Exception {
        Map<String, byte[]> entries = new LinkedHashMap<>();
        entries.put("cifar-10-batches-bin/readme.html", "hello".getBytes(StandardCharsets.US_ASCII));
        files().forEach((k, v) -> entries.put("cifar-10-batches-bin/" + k, v));
        entries.put("../../outside.bin", batch(1));
        byte[] archive = tarGz(entries);
        String md5 = HexFormat.of().formatHex(MessageDigest.getInstance("MD5").digest(archive));
        HttpServer server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/cifar.tar.gz", ex -> {
            ex.sendResponseHeaders(200, archive.length);
            ex.getResponseBody().write(archive);
            ex.close();
        });
        server.start();
        String oldHome = System.getProperty("osprey.datasets.home");
        try {
            Path home = Files.createDirectory(dir.resolve("home"));
            System.setProperty("osprey.datasets.home", home.toString());
            URI url = URI.create("http://127.0.0.1:" + server.getAddress().getPort() + "/cifar.tar.gz");
            IOException wrong = assertThrows(IOException.class, () -> Cifar10.load(null, url, "0".repeat(32)));
            assertTrue(wrong.getMessage().contains("failed verification"), wrong.getMessage());
            assertFalse(Files.exists(home.resolve("cifar-10").resolve(Cifar10.TEST_FILE)), "nothing unpacked");
            LabeledData d = Cifar10.load(null, url, md5);
            assertEquals(10, d.trainX().rows());
            assertEquals(3, d.testX().rows());
            try (var listing = Files.list(home.resolve("cifar-10"))) {
                assertEquals(6, listing.count(), "only the six batches are unpacked");
            }
            assertFalse(Files.exists(dir.resolve("outside.bin")) || Files.exists(home.resolve("outside.bin")));
            assertEquals(3, Cifar10.load(null, URI.create("http://127.0.0.1:1/never"), md5).testX().rows(),
                    "found in the cache, not downloaded again");
        } finally {
            server.stop(0);
            if (oldHome == null) {
                System.clearProperty("osprey.datasets.home");
            } else {
                System.setProperty("osprey.datasets.home", oldHome);
            }
        }
    }

    /** Offline: one message that says where CIFAR-10 was looked for, what the download met and what to put where. */
    @Test
    void aFailedDownloadSaysWhereToPutTheFilesAndLeavesNoEmptyFolder() throws Exception {
        String oldHome = System.getProperty("osprey.datasets.home");
        try {
            Path home = Files.createDirectory(dir.resolve("offline"));
            System.setProperty("osprey.datasets.home", home.toString());
            URI refused = URI.create("http://127.0.0.1:1/cifar.tar.gz"); // nothing listens on port 1
            IOException e = assertThrows(IOException.class, () -> Cifar10.load(null, refused, "0".repeat(32)));
            String m = e.getMessage();
            assertTrue(m.startsWith("CIFAR-10 was not found in ["), m);
            assertTrue(m.contains("could not be downloaded from " + refused + " (ConnectException"), m);
            assertTrue(m.contains("data_batch_1.bin") && m.contains(home.resolve("cifar-10").toString()), m);
            assertFalse(Files.exists(home.resolve("cifar-10")), "the empty cache folder is removed");
        } finally {
            if (oldHome == null) {
                System.clearProperty("osprey.datasets.home");
            } else {
                System.setProperty("osprey.datasets.home", oldHome);
            }
        }
    }
}
