package dev.osprey.cli;

import dev.osprey.backend.Device;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Loads the native libraries a command will need on background threads, while the main thread reads the command
 * line and the model file: oneDNN (about 0.3 s through JavaCPP) and, when images will be decoded by it, OpenCV
 * (about 0.5 s). Whoever needs a library first simply waits for its class initialization to finish; a failure here is
 * ignored, since the main thread meets it again with its full message.
 */
final class Preload {
    private Preload() {
    }

    static void start(String[] args) {
        String forced = System.getProperty("osprey.device", "auto").trim().toLowerCase(Locale.ROOT);
        if (forced.equals("auto") || forced.equals("cpu")) {
            thread("osprey-preload-onednn", () -> {
                Device.cpu().backend();
                dev.osprey.backend.cpu.CpuBackend.initializeBindings();
            });
        }
        boolean images;
        try {
            images = mentionsImages(args);
        } catch (RuntimeException e) { // an argument that is no path at all: the command line reports it
            images = false;
        }
        if (images) {
            thread("osprey-preload-opencv", dev.osprey.data.images.ImageDecoder::loadNative);
        }
    }

    /**
     * train --images, or a JPEG or BMP file or a folder among predict's and evaluate's arguments. A PNG alone is left
     * out: a plain one of the model's size decodes without OpenCV, which then loads only if it is needed after all.
     */
    private static boolean mentionsImages(String[] args) {
        for (String a : args) {
            String lower = a.toLowerCase(Locale.ROOT);
            if (lower.equals("--images") || lower.startsWith("--images=") || lower.endsWith(".jpg") || lower.endsWith(".jpeg") || lower.endsWith(".bmp")) {
                return true;
            }
            if (!a.startsWith("-") && !lower.endsWith(".osprey") && Files.isDirectory(Path.of(a))) {
                return true;
            }
        }
        return false;
    }

    private static void thread(String name, Runnable work) {
        Thread t = new Thread(() -> {
            try {
                work.run();
            } catch (Throwable ignored) {
                // met again, and reported, where the command needs it
            }
        }, name);
        t.setDaemon(true);
        t.start();
    }
}
