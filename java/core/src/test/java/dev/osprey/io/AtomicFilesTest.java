package dev.osprey.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Models;
import dev.osprey.Sequential;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Files written through a temporary sibling get the permissions any new file gets (the umask's), not
 * Files.createTempFile's owner-only ones; a file that is replaced keeps its own.
 */
class AtomicFilesTest {
    @TempDir
    Path dir;

    private Set<PosixFilePermission> newFilePermissions() throws Exception {
        return Files.getPosixFilePermissions(Files.createFile(dir.resolve("plain")));
    }

    @Test
    void aSavedModelIsReadableAsAnyNewFileIs() throws Exception {
        Assumptions.assumeTrue(Files.getFileStore(dir).supportsFileAttributeView("posix"), "no POSIX permissions");
        Set<PosixFilePermission> usual = newFilePermissions();
        Assumptions.assumeTrue(usual.contains(PosixFilePermission.GROUP_READ) || usual.contains(
                PosixFilePermission.OTHERS_READ), "a umask of 077 makes every new file owner-only anyway");
        Path sibling = AtomicFiles.createSibling(dir.resolve("model.osprey"), ".tmp");
        assertEquals(usual, Files.getPosixFilePermissions(sibling));
        assertTrue(sibling.getFileName().toString().startsWith(".model.osprey."), sibling.toString());
        Files.delete(sibling);
        Path saved = dir.resolve("tutorial.osprey");
        try (Sequential model = Models.compiledTutorialCnn()) {
            model.save(saved);
        }
        assertEquals(usual, Files.getPosixFilePermissions(saved), "was owner-only through Files.createTempFile");
        try (var left = Files.list(dir)) {
            assertFalse(left.anyMatch(p -> p.getFileName().toString().endsWith(".tmp")), "no temporary file left");
        }
    }

    @Test
    void aReplacedFileKeepsItsPermissions() throws Exception {
        Assumptions.assumeTrue(Files.getFileStore(dir).supportsFileAttributeView("posix"), "no POSIX permissions");
        Path target = Files.writeString(dir.resolve("model.osprey"), "old");
        Set<PosixFilePermission> chosen = PosixFilePermissions.fromString("rw----r--");
        Files.setPosixFilePermissions(target, chosen);
        assertNotEquals(chosen, newFilePermissions());
        Path sibling = AtomicFiles.createSibling(target, ".tmp");
        Files.writeString(sibling, "new");
        AtomicFiles.moveIntoPlace(sibling, target);
        assertEquals("new", Files.readString(target));
        assertEquals(chosen, Files.getPosixFilePermissions(target));
    }
}
