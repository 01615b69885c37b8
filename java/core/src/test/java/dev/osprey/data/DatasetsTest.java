package dev.osprey.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Lookup order and verified downloads, against a local HTTP server (never the internet). */
class DatasetsTest {
    @TempDir
    Path dir;
    HttpServer server;
    final Map<String, byte[]> served = new HashMap<>();
    final AtomicInteger requests = new AtomicInteger();

    @BeforeEach
    void startServer() throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/", exchange -> {
            requests.incrementAndGet();
            byte[] body = served.get(exchange.getRequestURI().getPath().substring(1));
            exchange.sendResponseHeaders(body == null ? 404 : 200, body == null ? -1 : body.length);
            if (body != null) {
                try (OutputStream out = exchange.getResponseBody()) {
                    out.write(body);
                }
            }
            exchange.close();
        });
        server.start();
    }

    @AfterEach
    void stopServer() {
        server.stop(0);
    }

    URI base() {
        return URI.create("http://127.0.0.1:" + server.getAddress().getPort() + "/");
    }

    static byte[] bundled(String name) throws IOException {
        try (InputStream in = Datasets.class.getResourceAsStream("/dev/osprey/data/fashion-mnist-sample/" + name)) {
            return in.readAllBytes();
        }
    }

    @Test
    void aVerifiedDownloadLandsUnderItsRealName() throws IOException {
        served.put("t10k-labels-idx1-ubyte.gz", bundled("t10k-labels-idx1-ubyte.gz"));
        Path target = dir.resolve("cache/t10k-labels-idx1-ubyte.gz");
        VerifiedDownload.fetch(base().resolve("t10k-labels-idx1-ubyte.gz"), target,
                Datasets.FASHION_MNIST_FILES.get(3).contentSha256());
        assertTrue(Files.isRegularFile(target));
        assertEquals(10_000, Idx.read(target).count());
        try (var files = Files.list(target.getParent())) {
            assertEquals(1, files.count(), "no partial file may stay behind");
        }
    }

    @Test
    void aTamperedDownloadIsRejectedAndLeavesNothing() throws IOException {
        byte[] labels = bundled("t10k-labels-idx1-ubyte.gz");
        served.put("t10k-labels-idx1-ubyte.gz", IdxTest.gzip(IdxTest.idx(8, new int[] {10_000}, 10_000)));
        Path target = dir.resolve("cache/t10k-labels-idx1-ubyte.gz");
        IOException e = assertThrows(IOException.class, () -> VerifiedDownload.fetch(
                base().resolve("t10k-labels-idx1-ubyte.gz"), target, Datasets.FASHION_MNIST_FILES.get(3).contentSha256()));
        assertTrue(e.getMessage().contains("failed verification: expected content SHA-256 0402a96d"), e.getMessage());
        try (var files = Files.list(target.getParent())) {
            assertEquals(0, files.count());
        }
        assertTrue(labels.length > 0);
    }

    /**
     * A server that sends part of a file and then nothing more: the download gives up once no byte has come for the
     * stall time (shortened here to 1 s), leaves nothing behind, and says so; it never hangs.
     */
    @Test
    void aStalledDownloadIsGivenUpAndLeavesNothing() throws IOException {
        java.util.concurrent.CountDownLatch end = new java.util.concurrent.CountDownLatch(1);
        server.createContext("/stalls.gz", exchange -> {
            exchange.sendResponseHeaders(200, 1_000_000);
            OutputStream out = exchange.getResponseBody();
            out.write(new byte[1000]);
            out.flush();
            try {
                end.await(); // until the test ends: the rest never comes
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            exchange.close();
        });
        java.time.Duration before = Download.stall;
        Download.stall = java.time.Duration.ofSeconds(1);
        try {
            Path target = dir.resolve("cache/stalls.gz");
            IOException e = assertThrows(IOException.class,
                    () -> VerifiedDownload.fetch(base().resolve("stalls.gz"), target, "00"));
            assertTrue(e.getMessage().contains("stalled: no data for 1 s after "), e.getMessage());
            try (var files = Files.list(target.getParent())) {
                assertEquals(0, files.count(), "no partial file may stay behind");
            }
        } finally {
            Download.stall = before;
            end.countDown();
        }
    }

    /** A mirror sending more than any data set file holds is cut off as the body grows. */
    @Test
    void anEndlessDownloadIsCutOffAtTheLimit() throws IOException {
        server.createContext("/endless.gz", exchange -> {
            exchange.sendResponseHeaders(200, 0); // chunked: no length promised
            try (OutputStream out = exchange.getResponseBody()) {
                byte[] chunk = new byte[1 << 20];
                for (long sent = 0; sent <= (12 << 20); sent += chunk.length) {
                    out.write(chunk);
                }
            } catch (IOException clientGone) {
                // the download gave up: expected
            }
            exchange.close();
        });
        Path target = dir.resolve("cache/endless.gz");
        long before = VerifiedDownload.maxBytes;
        VerifiedDownload.maxBytes = 8 << 20; // 8 MiB here, 256 MiB in use
        try {
            IOException e = assertThrows(IOException.class,
                    () -> VerifiedDownload.fetch(base().resolve("endless.gz"), target, "00"));
            assertTrue(e.getMessage().contains("exceeds " + (8 << 20) + " bytes"), e.getMessage());
        } finally {
            VerifiedDownload.maxBytes = before;
        }
        try (var files = Files.list(target.getParent())) {
            assertEquals(0, files.count(), "no partial file may stay behind");
        }
    }

    @Test
    void aMissingFileOnTheMirrorIsAClearError() {
        Path target = dir.resolve("cache/x.gz");
        IOException e = assertThrows(IOException.class,
                () -> VerifiedDownload.fetch(base().resolve("x.gz"), target, "00"));
        assertTrue(e.getMessage().endsWith("failed: HTTP 404"), e.getMessage());
        assertFalse(Files.exists(target));
    }

    @Test
    void aGivenDirectoryIsLookedInFirstAndNothingIsDownloaded() throws IOException {
        Path given = dir.resolve("given");
        Files.createDirectories(given);
        byte[] images = IdxTest.idx(8, new int[] {2, 28, 28}, 2 * 784);
        byte[] labels = IdxTest.idx(8, new int[] {2}, 2);
        for (Datasets.DataFile f : Datasets.FASHION_MNIST_FILES) {
            Files.write(given.resolve(f.name()), f.name().contains("images") ? images : labels);
        }
        String old = System.getProperty("osprey.datasets.mirror");
        System.setProperty("osprey.datasets.mirror", base().toString());
        try {
            LabeledData d = Datasets.fashionMnist(given);
            assertEquals(2, d.trainX().rows());
            assertEquals(0, requests.get());
        } finally {
            restore("osprey.datasets.mirror", old);
        }
        assertEquals(given, Datasets.candidates(given, "fashion-mnist", Datasets.DEBIAN_FASHION_MNIST).get(0));
        assertEquals(Datasets.DEBIAN_FASHION_MNIST,
                Datasets.candidates(given, "fashion-mnist", Datasets.DEBIAN_FASHION_MNIST).get(2));
    }

    @Test
    void whenNothingIsLocalTheFilesAreDownloadedVerifiedAndLoaded() throws IOException {
        byte[] images = IdxTest.idx(8, new int[] {3, 28, 28}, 3 * 784);
        byte[] labels = IdxTest.idx(8, new int[] {3}, 3);
        java.util.List<Datasets.DataFile> files = new java.util.ArrayList<>();
        for (Datasets.DataFile f : Datasets.FASHION_MNIST_FILES) {
            byte[] raw = f.name().contains("images") ? images : labels;
            served.put(f.name() + ".gz", IdxTest.gzip(raw));
            files.add(new Datasets.DataFile(f.name(), sha256(raw)));
        }
        String oldHome = System.getProperty("osprey.datasets.home");
        System.setProperty("osprey.datasets.home", dir.resolve("home").toString());
        try {
            LabeledData d = Datasets.find(dir.resolve("nowhere"), dir.resolve("no-system-copy"), base().toString(), files);
            assertEquals(3, d.trainX().rows());
            assertEquals(4, requests.get());
            assertTrue(Files.isRegularFile(dir.resolve("home/fashion-mnist/train-images-idx3-ubyte.gz")));
            Datasets.find(null, dir.resolve("no-system-copy"), base().toString(), files);
            assertEquals(4, requests.get(), "the second lookup finds the cached files");
        } finally {
            restore("osprey.datasets.home", oldHome);
        }
    }

    static String sha256(byte[] raw) {
        try {
            return java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256").digest(raw));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void restore(String key, String value) {
        if (value == null) {
            System.clearProperty(key);
        } else {
            System.setProperty(key, value);
        }
    }
}
