DROP INDEX files_library_captured_at;
ALTER TABLE files DROP COLUMN media_info;
ALTER TABLE files DROP COLUMN duration_ms;
ALTER TABLE files DROP COLUMN height;
ALTER TABLE files DROP COLUMN width;
ALTER TABLE files DROP COLUMN captured_at_source;
ALTER TABLE files DROP COLUMN captured_at;
