-- What came with a file from an import (a Google Takeout sidecar), as JSON: used by the
-- metadata stage for what the file itself does not say.
ALTER TABLE files ADD COLUMN sidecar TEXT;
