ALTER TABLE search_docs DROP COLUMN place;
ALTER TABLE files DROP COLUMN place;
