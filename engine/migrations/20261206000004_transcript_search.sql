-- Full-text search over transcripts (issue 16): an FTS5 index of transcript_lines' text, kept
-- by triggers (a call's deletion cascades to its lines, and cascaded deletes fire them too).
-- unicode61 with diacritics removed: "cafe" finds "café".
CREATE VIRTUAL TABLE transcript_fts USING fts5(
    text,
    content = 'transcript_lines',
    content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER transcript_lines_fts_insert AFTER INSERT ON transcript_lines BEGIN
    INSERT INTO transcript_fts (rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER transcript_lines_fts_delete AFTER DELETE ON transcript_lines BEGIN
    INSERT INTO transcript_fts (transcript_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER transcript_lines_fts_update AFTER UPDATE OF text ON transcript_lines BEGIN
    INSERT INTO transcript_fts (transcript_fts, rowid, text) VALUES ('delete', old.id, old.text);
    INSERT INTO transcript_fts (rowid, text) VALUES (new.id, new.text);
END;
INSERT INTO transcript_fts (transcript_fts) VALUES ('rebuild');
