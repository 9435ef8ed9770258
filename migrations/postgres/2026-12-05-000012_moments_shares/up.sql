-- Moments: named time ranges of a video or audio file. `version` goes up when the range
-- changes; the exported clip is current when `clip_version` equals it. `clip_wanted` asks the
-- file's moment_export job for a clip (on request, or because a share shows the moment).
CREATE TABLE moments (
    id TEXT PRIMARY KEY NOT NULL,
    library_id TEXT NOT NULL REFERENCES libraries (id) ON DELETE CASCADE,
    file_id TEXT NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    start_ms BIGINT NOT NULL CHECK (start_ms >= 0),
    end_ms BIGINT NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    tags TEXT NOT NULL DEFAULT '[]',
    version INTEGER NOT NULL DEFAULT 1,
    clip_wanted BOOLEAN NOT NULL DEFAULT FALSE,
    clip_version INTEGER,
    clip_size BIGINT,
    created_by TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CHECK (end_ms > start_ms)
);
CREATE INDEX moments_file ON moments (file_id, start_ms);
CREATE INDEX moments_library ON moments (library_id, created_at DESC, id DESC);

-- Share links. Only a hash of the token is kept for lookup; `token_sealed` is the token
-- encrypted with the server's secret, so managers can see the link again while a copy of the
-- database alone opens nothing.
CREATE TABLE shares (
    id TEXT PRIMARY KEY NOT NULL,
    library_id TEXT NOT NULL REFERENCES libraries (id) ON DELETE CASCADE,
    created_by TEXT REFERENCES users (id) ON DELETE SET NULL,
    kind TEXT NOT NULL CHECK (kind IN ('files', 'folder', 'moment')),
    folder_id TEXT REFERENCES folders (id) ON DELETE CASCADE,
    moment_id TEXT REFERENCES moments (id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    token_sealed TEXT NOT NULL,
    title TEXT,
    message TEXT,
    expires_at BIGINT,
    password_hash TEXT,
    allow_download BOOLEAN NOT NULL DEFAULT FALSE,
    show_location BOOLEAN NOT NULL DEFAULT FALSE,
    show_metadata BOOLEAN NOT NULL DEFAULT TRUE,
    revoked_at BIGINT,
    views BIGINT NOT NULL DEFAULT 0,
    last_viewed_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX shares_library ON shares (library_id, created_at DESC);

-- The files of a `files` share, in the order they were chosen.
CREATE TABLE share_files (
    share_id TEXT NOT NULL REFERENCES shares (id) ON DELETE CASCADE,
    file_id TEXT NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    PRIMARY KEY (share_id, file_id)
);
CREATE INDEX share_files_file ON share_files (file_id);

-- One row per visitor (a hash of address and browser) and hour: a view counts once an hour.
CREATE TABLE share_visits (
    share_id TEXT NOT NULL REFERENCES shares (id) ON DELETE CASCADE,
    visitor TEXT NOT NULL,
    hour BIGINT NOT NULL,
    PRIMARY KEY (share_id, visitor, hour)
);
