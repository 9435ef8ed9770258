-- The timeline by capture date pages through this order (files?order=taken).
CREATE INDEX files_library_taken ON files (library_id, (coalesce(captured_at, created_at)) DESC, id DESC);
