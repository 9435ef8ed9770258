DROP INDEX folders_library_source_path;
ALTER TABLE folders DROP COLUMN source_path;
