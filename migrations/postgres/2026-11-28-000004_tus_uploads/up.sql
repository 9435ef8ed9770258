-- Resumable (tus 1.0) uploads in progress. The bytes received so far live in a file under the
-- data dir named by the id; its length is the upload offset. `file_id` is chosen up front so
-- finishing twice (after a crash) stores the same file, never two.
CREATE TABLE tus_uploads (
    id TEXT PRIMARY KEY NOT NULL,
    library_id TEXT NOT NULL REFERENCES libraries (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    file_id TEXT NOT NULL,
    length BIGINT NOT NULL,
    name TEXT NOT NULL,
    folder_id TEXT,
    finished BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX tus_uploads_expires ON tus_uploads (expires_at);
