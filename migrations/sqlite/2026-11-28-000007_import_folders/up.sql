-- Folders an import scan mirrors from the NAS: their path relative to the import folder.
ALTER TABLE folders ADD COLUMN source_path TEXT;
CREATE UNIQUE INDEX folders_library_source_path ON folders (library_id, source_path);
