-- The media stage: what the metadata job read from the original. `captured_at` is when the
-- photo or video was taken (ms since the epoch), `captured_at_source` says where that came from
-- (exif: with the camera's UTC offset; exif_local: wall-clock time without one; container:
-- the video's creation time; file_time: the file's own time). `media_info` is the full JSON.
ALTER TABLE files ADD COLUMN captured_at BIGINT;
ALTER TABLE files ADD COLUMN captured_at_source TEXT;
ALTER TABLE files ADD COLUMN width INTEGER;
ALTER TABLE files ADD COLUMN height INTEGER;
ALTER TABLE files ADD COLUMN duration_ms BIGINT;
ALTER TABLE files ADD COLUMN media_info TEXT;
CREATE INDEX files_library_captured_at ON files (library_id, captured_at);
