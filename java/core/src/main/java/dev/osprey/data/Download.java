package dev.osprey.data;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Fetches a URL's body into a file, watching it arrive: a server that stops sending for {@link #stall} (or never
 * answers) ends the download with an IOException instead of hanging (the HTTP client's request timeout covers only the
 * headers), and a body beyond maxBytes is cut off as it grows. The caller verifies the file and deletes it on failure.
 */
final class Download {
    /** How long a download may go without a byte before it is given up (tests shorten it). */
    static volatile Duration stall = Duration.ofSeconds(60);

    private Download() {
    }

    static void to(URI source, Path file, long maxBytes) throws IOException {
        HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(20))
                .followRedirects(HttpClient.Redirect.NORMAL).build();
        CompletableFuture<HttpResponse<Path>> response = client.sendAsync(HttpRequest.newBuilder(source).GET().build(),
                HttpResponse.BodyHandlers.ofFile(file));
        long stallNanos = stall.toNanos();
        long lastSize = -1;
        long lastProgress = System.nanoTime();
        try {
            while (true) {
                try {
                    HttpResponse<Path> r = response.get(Math.min(1000, Math.max(10, stallNanos / 4_000_000)),
                            TimeUnit.MILLISECONDS);
                    if (r.statusCode() != 200) {
                        throw new IOException("download of " + source + " failed: HTTP " + r.statusCode());
                    }
                    if (Files.size(file) > maxBytes) {
                        throw new IOException("download of " + source + " exceeds " + maxBytes + " bytes");
                    }
                    return;
                } catch (TimeoutException stillComing) {
                    long size = Files.exists(file) ? Files.size(file) : 0;
                    long now = System.nanoTime();
                    if (size > maxBytes) {
                        throw new IOException("download of " + source + " exceeds " + maxBytes + " bytes");
                    }
                    if (size != lastSize) {
                        lastSize = size;
                        lastProgress = now;
                    } else if (now - lastProgress > stallNanos) {
                        throw new IOException("download of " + source + " stalled: no data for " + stall.toSeconds()
                                + " s after " + size + " bytes; expected the rest (retry, or place the files by hand)");
                    }
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("download of " + source + " was interrupted", e);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof IOException io) { // as a blocking send throws it (ConnectException, ...)
                throw io;
            }
            throw new IOException("download of " + source + " failed: " + cause, cause);
        } finally {
            response.cancel(true); // a download given up stops here (a finished one is not affected)
        }
    }
}
