DROP INDEX files_place;
ALTER TABLE files DROP COLUMN longitude;
ALTER TABLE files DROP COLUMN latitude;
