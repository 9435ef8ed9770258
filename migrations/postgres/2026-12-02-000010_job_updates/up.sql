-- Live job progress reads the rows changed since its last look.
CREATE INDEX file_jobs_updated ON file_jobs (updated_at);
