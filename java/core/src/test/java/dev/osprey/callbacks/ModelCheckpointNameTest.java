package dev.osprey.callbacks;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.junit.jupiter.api.Test;

/** Keras' checkpoint file names: {epoch} from 1 and the epoch's figures, with Python formats (was written literally). */
class ModelCheckpointNameTest {
    private static final Map<String, Double> LOGS = Map.of("loss", 0.5123, "val_loss", 0.40625, "val_accuracy", 0.9);

    @Test
    void fieldsAreFilledInWithTheirFormats() {
        assertEquals("ck-03-0.41.osprey", ModelCheckpoint.fileName("ck-{epoch:02d}-{val_loss:.2f}.osprey", 2, LOGS));
        assertEquals("e3-acc0.900000.osprey", ModelCheckpoint.fileName("e{epoch}-acc{val_accuracy:f}.osprey", 2, LOGS));
        assertEquals("l0.5123.osprey", ModelCheckpoint.fileName("l{loss}.osprey", 0, LOGS));
        assertEquals("plain.osprey", ModelCheckpoint.fileName("plain.osprey", 7, LOGS));
        assertEquals("runs/epoch-08/model.osprey", ModelCheckpoint.fileName("runs/epoch-{epoch:02d}/model.osprey", 7,
                LOGS));
        assertEquals("w  12.osprey", ModelCheckpoint.fileName("w{epoch:4d}.osprey", 11, LOGS));
    }

    /** Python's general format, as Keras users write it: {val_loss:.2} and {val_loss:g} drop trailing zeros. */
    @Test
    void theGeneralFormatIsPythons() {
        assertEquals("0.41", ModelCheckpoint.general(0.40625, 2));
        assertEquals("0.40625", ModelCheckpoint.general(0.40625, 6));
        assertEquals("1.2e+03", ModelCheckpoint.general(1234.5, 2));
        assertEquals("1e-05", ModelCheckpoint.general(0.00001, 6));
        assertEquals("0.0001", ModelCheckpoint.general(0.0001, 6));
        assertEquals("100", ModelCheckpoint.general(100, 6));
        assertEquals("-2.5", ModelCheckpoint.general(-2.5, 3));
        assertEquals("l0.41.osprey", ModelCheckpoint.fileName("l{val_loss:.2}.osprey", 0, LOGS));
        assertEquals("l0.40625.osprey", ModelCheckpoint.fileName("l{val_loss:g}.osprey", 0, LOGS));
    }

    /** Braces it would not fill are refused before any training (they were written literally, one file per run). */
    @Test
    void fieldsItCannotFillAreRefusedAtConstruction() {
        for (String bad : new String[] {"ck-{loss:+.2f}.osprey", "ck-{val_loss:.2%}.osprey", "ck-{epoch:>3}.osprey",
                "ck-{epoch:0d}.osprey", "ck-{epoch:003d}.osprey", "ck-{epoch.osprey", "ck-}.osprey"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> new ModelCheckpoint(java.nio.file.Path.of("/tmp", bad), "val_loss", false), bad);
            assertTrue(e.getMessage().startsWith("ModelCheckpoint: "), e.getMessage());
        }
        new ModelCheckpoint(java.nio.file.Path.of("/tmp", "ck-{epoch:03d}-{val_loss:.4e}.osprey"), "val_loss", false);
        assertEquals("ck-012-4.0625e-01.osprey", ModelCheckpoint.fileName("ck-{epoch:03d}-{val_loss:.4e}.osprey", 11,
                LOGS));
    }

    @Test
    void anUnknownFieldIsRefusedNamingTheFigures() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ModelCheckpoint.fileName("ck-{val_acc:.2f}.osprey", 0, Map.of("val_loss", 1.0)));
        assertEquals("ModelCheckpoint: the path's field {val_acc} is none of epoch and [val_loss]", e.getMessage());
    }
}
