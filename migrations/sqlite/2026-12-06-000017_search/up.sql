-- One search document per file: what the pipeline and the members know about it, as display
-- text per field and as `words` (folded to lower case without accents), indexed by FTS5.
CREATE TABLE search_docs (
    id INTEGER PRIMARY KEY,
    file_id TEXT NOT NULL UNIQUE REFERENCES files (id) ON DELETE CASCADE,
    library_id TEXT NOT NULL,
    name TEXT NOT NULL,
    folder TEXT NOT NULL,
    labels TEXT NOT NULL,
    people TEXT NOT NULL,
    sounds TEXT NOT NULL,
    camera TEXT NOT NULL,
    dates TEXT NOT NULL,
    words TEXT NOT NULL
);
CREATE VIRTUAL TABLE search_fts USING fts5 (words, content = 'search_docs', content_rowid = 'id');
CREATE TRIGGER search_docs_inserted AFTER INSERT ON search_docs BEGIN
    INSERT INTO search_fts (rowid, words) VALUES (new.id, new.words);
END;
CREATE TRIGGER search_docs_deleted AFTER DELETE ON search_docs BEGIN
    INSERT INTO search_fts (search_fts, rowid, words) VALUES ('delete', old.id, old.words);
END;
CREATE TRIGGER search_docs_updated AFTER UPDATE ON search_docs BEGIN
    INSERT INTO search_fts (search_fts, rowid, words) VALUES ('delete', old.id, old.words);
    INSERT INTO search_fts (rowid, words) VALUES (new.id, new.words);
END;
