-- Where each file was taken (its GPS, from EXIF or an import's sidecar), for the map.
ALTER TABLE files ADD COLUMN latitude REAL;
ALTER TABLE files ADD COLUMN longitude REAL;
UPDATE files
SET latitude = json_extract(media_info, '$.gps.latitude'),
    longitude = json_extract(media_info, '$.gps.longitude')
WHERE json_valid(media_info) AND json_type(media_info, '$.gps.latitude') IN ('real', 'integer')
    AND json_type(media_info, '$.gps.longitude') IN ('real', 'integer');
CREATE INDEX files_place ON files (library_id, latitude, longitude) WHERE latitude IS NOT NULL;
