package dev.osprey.io;

import java.io.IOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;

/** Files appear under their real name complete or not at all: written beside it, then renamed. */
public final class AtomicFiles {
    private AtomicFiles() {
    }

    /**
     * A new, empty file beside target (in its folder, under a hidden name of its own ending in suffix) to write target's
     * contents into before {@link #moveIntoPlace}. Made as any new file is, with the permissions the process's umask
     * gives (rw-r--r-- under the usual 022), not Files.createTempFile's owner-only ones, which a model file would
     * otherwise keep: a server running as another user could not read it. Where target exists (POSIX file systems),
     * with target's permissions instead (the umask still applies to them).
     */
    public static Path createSibling(Path target, String suffix) throws IOException {
        Path dir = target.toAbsolutePath().getParent();
        String name = "." + target.getFileName();
        // replacing a file: its contents are written under its permissions from the start, not readable more widely
        Set<PosixFilePermission> kept = existingPermissions(target);
        java.nio.file.attribute.FileAttribute<?>[] permissions = kept == null
                ? new java.nio.file.attribute.FileAttribute<?>[0]
                : new java.nio.file.attribute.FileAttribute<?>[] {PosixFilePermissions.asFileAttribute(kept)};
        for (int attempt = 0; ; attempt++) {
            Path candidate = dir.resolve(name + "." + Long.toUnsignedString(RANDOM.nextLong(), 36) + suffix);
            try {
                Files.newByteChannel(candidate, java.util.EnumSet.of(java.nio.file.StandardOpenOption.CREATE_NEW,
                        java.nio.file.StandardOpenOption.WRITE), permissions).close();
                return candidate;
            } catch (java.nio.file.FileAlreadyExistsException e) {
                if (attempt == 99) {
                    throw e;
                }
            }
        }
    }

    private static final java.security.SecureRandom RANDOM = new java.security.SecureRandom();

    /**
     * Renames a finished temporary file onto the target (atomically where the file system can). A target that exists
     * keeps its permissions (where the file system has POSIX ones): replacing a file does not widen or narrow who may
     * read it.
     */
    public static void moveIntoPlace(Path temporary, Path target) throws IOException {
        // on the disk before the rename, and the rename on the disk after it: a host that stops (power, preemption)
        // leaves the old file or the new one, never an empty new one (backups delete the previous one right after);
        // synced before its permissions change, which may make it read-only
        try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(temporary,
                java.nio.file.StandardOpenOption.WRITE)) {
            ch.force(true);
        }
        Set<PosixFilePermission> kept = existingPermissions(target);
        if (kept != null) { // exactly: createSibling's were narrowed by the umask
            Files.setPosixFilePermissions(temporary, kept);
        }
        try {
            Files.move(temporary, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(temporary, target, StandardCopyOption.REPLACE_EXISTING);
        }
        Path folder = target.toAbsolutePath().getParent();
        if (folder != null) {
            try (java.nio.channels.FileChannel dir = java.nio.channels.FileChannel.open(folder,
                    java.nio.file.StandardOpenOption.READ)) {
                dir.force(true);
            } catch (IOException | UnsupportedOperationException e) {
                // a file system or OS that can't sync a folder (Windows): the rename stands as the OS keeps it
            }
        }
    }

    /** target's POSIX permissions, or null where it does not exist or its file system has none (then the defaults). */
    private static Set<PosixFilePermission> existingPermissions(Path target) {
        try {
            return Files.exists(target) && Files.getFileStore(target).supportsFileAttributeView("posix")
                    ? Files.getPosixFilePermissions(target) : null;
        } catch (IOException e) { // gone or unreadable since: nothing to keep
            return null;
        }
    }
}
