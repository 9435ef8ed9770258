DROP TABLE transcript_segments;
DROP TABLE audio_events;
DROP TABLE file_labels;
DROP TABLE faces;
DROP TABLE people;
