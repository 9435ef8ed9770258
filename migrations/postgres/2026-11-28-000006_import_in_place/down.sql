DROP INDEX files_library_source_path;
ALTER TABLE files DROP COLUMN source_mtime;
ALTER TABLE files DROP COLUMN source_path;
ALTER TABLE libraries DROP COLUMN import_path;
