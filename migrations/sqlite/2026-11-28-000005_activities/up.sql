-- The durable activity log of each library, and each user's notification state over it.
CREATE TABLE activities (
    id TEXT PRIMARY KEY NOT NULL,
    library_id TEXT NOT NULL REFERENCES libraries (id) ON DELETE CASCADE,
    actor_id TEXT REFERENCES users (id) ON DELETE SET NULL,
    kind TEXT NOT NULL,
    subject_id TEXT,
    subject_name TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX activities_library_created ON activities (library_id, created_at DESC, id DESC);

-- Notifications older than cleared_at are gone for that user.
CREATE TABLE notification_marks (
    user_id TEXT PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    cleared_at BIGINT NOT NULL
);

CREATE TABLE dismissed_notifications (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    activity_id TEXT NOT NULL REFERENCES activities (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, activity_id)
);
