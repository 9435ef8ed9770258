-- The name of the place each file was taken (the nearest town, its region and country), and
-- the search document's copy of it.
ALTER TABLE files ADD COLUMN place TEXT;
ALTER TABLE search_docs ADD COLUMN place TEXT NOT NULL DEFAULT '';
