package dev.osprey.cli;

import dev.osprey.data.images.Augmentation;
import dev.osprey.data.images.Preprocessing;
import java.nio.file.Path;
import java.util.Locale;
import picocli.CommandLine.Option;

/** Training from a folder of class folders: image size, colour, augmentation, workers. */
final class ImageOptions {
    @Option(names = "--images", description = "Folder of class folders of JPEG/PNG/BMP images (instead of --dataset).")
    Path images;

    double validationSplit = 0.2;
    private boolean validationSplitGiven;

    @Option(names = "--validation-split", description = "Share of the images held out. Default: 0.2.")
    void validationSplit(double share) {
        validationSplit = share;
        validationSplitGiven = true;
    }

    /** Whether --validation-split was on the command line (it means nothing without --images). */
    boolean validationSplitGiven() {
        return validationSplitGiven;
    }

    String imageSize = "28x28";
    String color = "gray";
    private boolean sizeOrColorGiven;

    @Option(names = "--image-size", description = "HEIGHTxWIDTH the images are resized to. Default: 28x28.")
    void imageSize(String size) {
        imageSize = size;
        sizeOrColorGiven = true;
    }

    @Option(names = "--color", description = "gray or rgb. Default: gray.")
    void color(String mode) {
        color = mode;
        sizeOrColorGiven = true;
    }

    /** Whether --image-size or --color was on the command line (finetune otherwise takes the base model's own). */
    boolean sizeOrColorGiven() {
        return sizeOrColorGiven;
    }

    @Option(names = "--interpolation", defaultValue = "linear", description = "nearest, linear, cubic or area. Default: ${DEFAULT-VALUE}.")
    String interpolation;

    @Option(names = "--rotation", defaultValue = "0", description = "Random rotation within +- degrees.")
    double rotation;

    @Option(names = "--flip", defaultValue = "none", description = "none, horizontal, vertical or both.")
    String flip;

    @Option(names = "--zoom", defaultValue = "0", description = "Random zoom within 1 +- this.")
    double zoom;

    @Option(names = "--shift", defaultValue = "0", description = "Random shift within +- this share of width and height.")
    double shift;

    @Option(names = "--fill", defaultValue = "nearest", description = "How uncovered pixels are filled: constant, nearest, reflect or wrap.")
    String fill;

    @Option(names = "--workers", defaultValue = "2", description = "Decoding threads. Default: ${DEFAULT-VALUE}.")
    int workers;

    @Option(names = "--skip-bad-files", description = "Skip and report images that can't be decoded instead of stopping.")
    boolean skipBadFiles;

    /** Throws IllegalArgumentException where --workers is not a thread count. */
    void checkWorkers() {
        if (workers < 1) {
            throw new IllegalArgumentException("expected --workers of at least 1, received " + workers);
        }
    }

    Preprocessing preprocessing() {
        String[] hw = imageSize.toLowerCase(Locale.ROOT).split("x");
        if (hw.length != 2) {
            throw new IllegalArgumentException("expected --image-size HEIGHTxWIDTH such as 28x28, received '" + imageSize + "'");
        }
        Preprocessing.ColorMode mode = switch (color.toLowerCase(Locale.ROOT)) {
            case "gray", "grey", "grayscale" -> Preprocessing.ColorMode.GRAYSCALE;
            case "rgb", "color", "colour" -> Preprocessing.ColorMode.RGB;
            default -> throw new IllegalArgumentException("expected --color gray or rgb, received '" + color + "'");
        };
        Preprocessing.Interpolation interp;
        try {
            interp = Preprocessing.Interpolation.valueOf(interpolation.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("expected --interpolation nearest, linear, cubic or area, received '"
                    + interpolation + "'");
        }
        return new Preprocessing(Integer.parseInt(hw[0].trim()), Integer.parseInt(hw[1].trim()), mode, interp, null, null);
    }

    Augmentation augmentation() {
        Augmentation.FillMode mode;
        try {
            mode = Augmentation.FillMode.valueOf(fill.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("expected --fill constant, nearest, reflect or wrap, received '" + fill + "'");
        }
        boolean h = flip.equals("horizontal") || flip.equals("both");
        boolean v = flip.equals("vertical") || flip.equals("both");
        if (!h && !v && !flip.equals("none")) {
            throw new IllegalArgumentException("expected --flip none, horizontal, vertical or both, received '" + flip + "'");
        }
        return new Augmentation().rotation(rotation).zoom(zoom).shift(shift, shift).horizontalFlip(h).verticalFlip(v)
                .fillMode(mode);
    }
}
