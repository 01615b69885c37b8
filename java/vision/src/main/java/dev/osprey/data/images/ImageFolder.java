package dev.osprey.data.images;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.stream.Stream;

/**
 * A data set as a folder of class folders: root/&lt;class&gt;/**.jpg|jpeg|png|bmp, as Keras'
 * image_dataset_from_directory reads one: a class folder's images at any depth below it, and hidden names (".git",
 * ".ipynb_checkpoints", macOS' "._photo.jpg" companions) left out at every level. Classes are the folder names sorted,
 * so labels are stable; files are sorted within each class. Files are read when a batch needs them.
 */
public final class ImageFolder {
    private static final List<String> EXTENSIONS = List.of(".jpg", ".jpeg", ".png", ".bmp");
    /** How deep below a class folder images are looked for. */
    private static final int MAX_DEPTH = 16;

    private final Path root;
    private final List<String> classNames;
    private final List<Path> files;
    private final int[] labels;

    private ImageFolder(Path root, List<String> classNames, List<Path> files, int[] labels) {
        this.root = root;
        this.classNames = List.copyOf(classNames);
        this.files = List.copyOf(files);
        this.labels = labels;
    }

    /**
     * Lists root's class folders (sorted; hidden ones left out; each must hold at least one .jpg, .jpeg, .png or .bmp
     * file, at any depth) and their images (sorted). Reads no image. Throws NoSuchFileException when root is not a
     * folder, and IOException naming the folder when there is no class folder or a class folder has no image.
     */
    public static ImageFolder scan(Path root) throws IOException {
        if (!Files.isDirectory(root)) {
            throw new NoSuchFileException(root.toString(), null, "expected a folder of class folders");
        }
        List<Path> classDirs;
        try (Stream<Path> s = Files.list(root)) {
            classDirs = s.filter(p -> !hidden(p)).filter(Files::isDirectory)
                    .sorted(java.util.Comparator.comparing(p -> p.getFileName().toString(), CODE_POINT_ORDER)).toList();
        }
        if (classDirs.isEmpty()) {
            throw new IOException(root + ": expected one sub-folder per class, found none");
        }
        List<String> names = new ArrayList<>();
        List<Path> files = new ArrayList<>();
        List<Integer> labels = new ArrayList<>();
        for (Path dir : classDirs) {
            List<Path> images = imagesBelow(dir);
            if (images.isEmpty()) {
                throw new IOException(dir + ": class folder has no images (" + String.join(", ", EXTENSIONS) + ")");
            }
            for (Path f : images) {
                files.add(f);
                labels.add(names.size());
            }
            names.add(dir.getFileName().toString());
        }
        return new ImageFolder(root, names, files, labels.stream().mapToInt(Integer::intValue).toArray());
    }

    /** A hidden name: ".git", ".ipynb_checkpoints", "._photo.jpg" (macOS' resource-fork companions), ... */
    private static boolean hidden(Path p) {
        return p.getFileName() != null && p.getFileName().toString().startsWith(".");
    }

    /**
     * The images at or below dir (a link to a folder, dir itself included, is followed), sorted; hidden folders are not
     * entered, and a folder that can't be read or loops back on itself is passed over.
     */
    public static List<Path> imagesBelow(Path dir) throws IOException {
        List<Path> images = new ArrayList<>();
        Files.walkFileTree(dir, java.util.EnumSet.of(java.nio.file.FileVisitOption.FOLLOW_LINKS), MAX_DEPTH,
                new java.nio.file.SimpleFileVisitor<>() {
                    @Override
                    public java.nio.file.FileVisitResult preVisitDirectory(Path d,
                            java.nio.file.attribute.BasicFileAttributes attrs) {
                        return !d.equals(dir) && hidden(d) ? java.nio.file.FileVisitResult.SKIP_SUBTREE
                                : java.nio.file.FileVisitResult.CONTINUE;
                    }

                    @Override
                    public java.nio.file.FileVisitResult visitFile(Path f,
                            java.nio.file.attribute.BasicFileAttributes attrs) {
                        if (attrs.isRegularFile() && !hidden(f) && isImage(f)) {
                            images.add(f);
                        }
                        return java.nio.file.FileVisitResult.CONTINUE;
                    }

                    @Override
                    public java.nio.file.FileVisitResult visitFileFailed(Path f, IOException e) {
                        return java.nio.file.FileVisitResult.CONTINUE; // unreadable, or a link back up the tree
                    }
                });
        // each file's key made once (not per comparison: an ImageNet-sized folder sorts a million names)
        return images.stream()
                .map(p -> java.util.Map.entry(dir.relativize(p).toString().replace(java.io.File.separatorChar, '/'), p))
                .sorted(java.util.Map.Entry.comparingByKey(CODE_POINT_ORDER)).map(java.util.Map.Entry::getValue)
                .collect(java.util.stream.Collectors.toCollection(ArrayList::new));
    }

    /**
     * Names in Unicode code-point order, as Python's sorted() and Linux's byte order give them: the same classes and
     * files in the same order on every platform (Windows' paths compare without case, String's by UTF-16 unit).
     */
    static final java.util.Comparator<String> CODE_POINT_ORDER = (a, b) -> {
        int i = 0, j = 0;
        while (i < a.length() && j < b.length()) {
            int ca = a.codePointAt(i), cb = b.codePointAt(j);
            if (ca != cb) {
                return Integer.compare(ca, cb);
            }
            i += Character.charCount(ca);
            j += Character.charCount(cb);
        }
        return Integer.compare(a.length() - i, b.length() - j);
    };

    private static boolean isImage(Path p) {
        String n = p.getFileName().toString().toLowerCase(Locale.ROOT);
        return EXTENSIONS.stream().anyMatch(n::endsWith);
    }

    /** {training, validation}: a seeded shuffle, the last share held out. */
    public ImageFolder[] split(double validationShare, long seed) {
        if (!(validationShare > 0 && validationShare < 1)) {
            throw new IllegalArgumentException("expected 0 < validation share < 1, received " + validationShare);
        }
        int[] order = new int[files.size()];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        dev.osprey.BatchSource.shuffle(order, new SplittableRandom(seed));
        int validation = (int) Math.round(order.length * validationShare);
        if (validation == 0 || validation == order.length) {
            throw new IllegalArgumentException("a validation share of " + validationShare + " of " + order.length
                    + " images leaves no training or no validation images (more images, or another validation share: "
                    + "--validation-split on the command line)");
        }
        return new ImageFolder[] {subset(order, 0, order.length - validation), subset(order, order.length - validation, order.length)};
    }

    private ImageFolder subset(int[] order, int from, int to) {
        List<Path> f = new ArrayList<>();
        int[] l = new int[to - from];
        for (int i = from; i < to; i++) {
            f.add(files.get(order[i]));
            l[i - from] = labels[order[i]];
        }
        return new ImageFolder(root, classNames, f, l);
    }

    /** The folder that was scanned. */
    public Path root() {
        return root;
    }

    /** The class folders' names, sorted: class number i is the i-th name. */
    public List<String> classNames() {
        return classNames;
    }

    /** Number of images in all classes. */
    public int size() {
        return files.size();
    }

    /** Image i's file (0 <= i < {@link #size()}), classes in order and files sorted within each. */
    public Path file(int i) {
        return files.get(i);
    }

    /** Image i's class number, an index into {@link #classNames()}. */
    public int label(int i) {
        return labels[i];
    }
}
