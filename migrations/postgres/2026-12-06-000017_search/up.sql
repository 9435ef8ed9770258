-- One search document per file: what the pipeline and the members know about it, as display
-- text per field and as `words` (folded to lower case without accents), indexed as a tsvector.
CREATE TABLE search_docs (
    id BIGSERIAL PRIMARY KEY,
    file_id TEXT NOT NULL UNIQUE REFERENCES files (id) ON DELETE CASCADE,
    library_id TEXT NOT NULL,
    name TEXT NOT NULL,
    folder TEXT NOT NULL,
    labels TEXT NOT NULL,
    people TEXT NOT NULL,
    sounds TEXT NOT NULL,
    camera TEXT NOT NULL,
    dates TEXT NOT NULL,
    words TEXT NOT NULL,
    tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple', words)) STORED
);
CREATE INDEX search_docs_tsv ON search_docs USING GIN (tsv);
