-- Where each file was taken (its GPS, from EXIF or an import's sidecar), for the map.
ALTER TABLE files ADD COLUMN latitude DOUBLE PRECISION, ADD COLUMN longitude DOUBLE PRECISION;
UPDATE files
SET latitude = (media_info::jsonb #>> '{gps,latitude}')::double precision,
    longitude = (media_info::jsonb #>> '{gps,longitude}')::double precision
WHERE media_info LIKE '%"gps":{%'
    AND jsonb_typeof(media_info::jsonb #> '{gps,latitude}') = 'number'
    AND jsonb_typeof(media_info::jsonb #> '{gps,longitude}') = 'number';
CREATE INDEX files_place ON files (library_id, latitude, longitude) WHERE latitude IS NOT NULL;
