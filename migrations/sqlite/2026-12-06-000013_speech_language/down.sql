ALTER TABLE transcript_segments DROP COLUMN language;
ALTER TABLE libraries DROP COLUMN speech_language;
