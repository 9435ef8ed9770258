-- The language a library's recordings are spoken in: a whisper language code, or 'auto' to
-- detect it per file. English keeps the small English-only model.
ALTER TABLE libraries ADD COLUMN speech_language TEXT NOT NULL DEFAULT 'en';
-- The language a transcript was heard in (asked for or detected), on each of its lines.
ALTER TABLE transcript_segments ADD COLUMN language TEXT;
