-- 0002: expunge tombstones for QRESYNC (RFC 7162 VANISHED), as the Pebble store's m 12 keys:
-- one row per UID that left a folder (expunged or moved out), with the folder's modseq of
-- that change and its time. Pruned per folder to the newest Options.VanishedMax rows and
-- none older than Options.VanishedAge when the folder next loses a message; tombstones
-- counts a folder's rows (so pruning reads only the rows it deletes) and vanished_floor is
-- the highest modseq pruned (a resync from below it cannot be told every expunge).
CREATE TABLE mm_vanished (
    folder_id bigint NOT NULL,
    modseq    bigint NOT NULL,
    uid       bigint NOT NULL,
    at        bigint NOT NULL, -- Unix seconds
    PRIMARY KEY (folder_id, modseq, uid)
);
ALTER TABLE mm_folder ADD COLUMN tombstones bigint NOT NULL DEFAULT 0;
ALTER TABLE mm_folder ADD COLUMN vanished_floor bigint NOT NULL DEFAULT 0;
