-- Import in place: a library may index a folder on the NAS; its files are read from there,
-- never copied, modified or moved.
ALTER TABLE libraries ADD COLUMN import_path TEXT;
-- Where an imported file lives, relative to its library's import path (UTF-8, `/`-separated),
-- and the modification time seen by the last scan. NULL for uploaded files.
ALTER TABLE files ADD COLUMN source_path TEXT;
ALTER TABLE files ADD COLUMN source_mtime BIGINT;
CREATE UNIQUE INDEX files_library_source_path ON files (library_id, source_path);
