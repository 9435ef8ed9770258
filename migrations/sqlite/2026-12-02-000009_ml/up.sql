-- The ML stage's findings. People are per library; a face belongs to at most one person,
-- assigned by clustering ('auto') or by a member ('user', kept by re-clustering). Boxes are
-- fractions of the upright picture: x, y, width, height. Embeddings are 128 little-endian f32.
CREATE TABLE people (
    id TEXT PRIMARY KEY,
    library_id TEXT NOT NULL REFERENCES libraries (id) ON DELETE CASCADE,
    name TEXT,
    cover_face_id TEXT,
    hidden BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX people_library ON people (library_id);

CREATE TABLE faces (
    id TEXT PRIMARY KEY,
    file_id TEXT NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    library_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    person_id TEXT REFERENCES people (id) ON DELETE SET NULL,
    assigned_by TEXT,
    score REAL NOT NULL,
    box_x REAL NOT NULL,
    box_y REAL NOT NULL,
    box_w REAL NOT NULL,
    box_h REAL NOT NULL,
    landmarks TEXT NOT NULL,
    embedding BLOB NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX faces_file ON faces (file_id);
CREATE INDEX faces_library_person ON faces (library_id, person_id);

-- Objects (YOLOX boxes) and tags (ImageNet classes) found in a picture.
CREATE TABLE file_labels (
    file_id TEXT NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    source TEXT NOT NULL,
    position INTEGER NOT NULL,
    library_id TEXT NOT NULL,
    name TEXT NOT NULL,
    score REAL NOT NULL,
    box_x REAL,
    box_y REAL,
    box_w REAL,
    box_h REAL,
    PRIMARY KEY (file_id, source, position)
);
CREATE INDEX file_labels_library_name ON file_labels (library_id, name);

-- Sound events heard in an audio file or a video's sound track, as time segments.
CREATE TABLE audio_events (
    file_id TEXT NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    library_id TEXT NOT NULL,
    name TEXT NOT NULL,
    start_ms BIGINT NOT NULL,
    end_ms BIGINT NOT NULL,
    score REAL NOT NULL,
    PRIMARY KEY (file_id, position)
);
CREATE INDEX audio_events_library_name ON audio_events (library_id, name);

-- What was said, segment by segment.
CREATE TABLE transcript_segments (
    file_id TEXT NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    library_id TEXT NOT NULL,
    start_ms BIGINT NOT NULL,
    end_ms BIGINT NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (file_id, position)
);
CREATE INDEX transcript_segments_library ON transcript_segments (library_id);
