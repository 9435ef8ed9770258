-- What each text the search index knows means: a sentence embedding per distinct label, sound,
-- person's name and transcript line, shared by every library (a library only ever reaches the
-- texts of its own files). Rows are only added, so readers load them incrementally by id.
CREATE TABLE text_vectors (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    digest TEXT NOT NULL UNIQUE,
    text TEXT NOT NULL,
    scale REAL NOT NULL,
    vector BLOB NOT NULL
);
CREATE INDEX text_vectors_text ON text_vectors (text);
