DROP INDEX files_place;
ALTER TABLE files DROP COLUMN longitude, DROP COLUMN latitude;
