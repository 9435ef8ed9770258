-- Folders and files of a library. A file row exists only once its original blob is stored.
CREATE TABLE folders (
    id TEXT PRIMARY KEY NOT NULL,
    library_id TEXT NOT NULL REFERENCES libraries (id) ON DELETE CASCADE,
    parent_id TEXT REFERENCES folders (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    trashed_at BIGINT
);
CREATE INDEX folders_library_parent ON folders (library_id, parent_id);

CREATE TABLE files (
    id TEXT PRIMARY KEY NOT NULL,
    library_id TEXT NOT NULL REFERENCES libraries (id) ON DELETE CASCADE,
    folder_id TEXT REFERENCES folders (id) ON DELETE SET NULL,
    name TEXT NOT NULL,
    blob_key TEXT NOT NULL,
    sha256 TEXT,
    size BIGINT NOT NULL,
    mime TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('photo', 'video', 'audio', 'other')),
    uploaded_by TEXT REFERENCES users (id) ON DELETE SET NULL,
    source_file_id TEXT REFERENCES files (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    trashed_at BIGINT
);
-- Timeline order and keyset pagination.
CREATE INDEX files_library_created ON files (library_id, created_at DESC, id DESC);
-- Duplicate lookups.
CREATE INDEX files_library_sha256 ON files (library_id, sha256);
CREATE INDEX files_folder ON files (folder_id);
