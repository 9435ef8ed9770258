-- A tiny placeholder of a file's picture (a ThumbHash, base64), made with its thumbnails:
-- the timeline shows it while the thumbnail loads.
ALTER TABLE files ADD COLUMN thumbhash TEXT;
