-- What a personal access token (an app password) may do: `full` (everything its user may) or
-- `upload` (add files and folders, list names; never read, change or delete).
ALTER TABLE api_tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'full';
