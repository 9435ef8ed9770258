-- One row per file and job kind: the job's state as the UI shows it, and the embedded queue
-- workers claim from. A claim is a lease (lease_token, lease_until); finishing needs the token,
-- so a worker whose lease expired, or whose job was re-requested (version bumped), cannot
-- record a result.
CREATE TABLE file_jobs (
    file_id TEXT NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'processing', 'done', 'failed', 'skipped')),
    progress INTEGER NOT NULL DEFAULT 0,
    eta_ms BIGINT,
    error TEXT,
    version INTEGER NOT NULL DEFAULT 1,
    done_version INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    run_after BIGINT NOT NULL,
    lease_token TEXT,
    lease_until BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (file_id, kind)
);
CREATE INDEX file_jobs_ready ON file_jobs (status, kind, run_after);
