ALTER TABLE files DROP COLUMN thumbhash;
