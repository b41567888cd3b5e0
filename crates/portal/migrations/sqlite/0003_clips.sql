-- Clips (issue 8): what owners choose to share, with its digest for the chain of custody,
-- every access by an agency, and retention.

-- The portal's own secrets: the key that signs clip links.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
);

CREATE TABLE clips (
    id                  TEXT PRIMARY KEY,
    request_id          TEXT NOT NULL REFERENCES requests (id),
    owner_id            TEXT NOT NULL REFERENCES accounts (id),
    shared_as           TEXT NOT NULL,          -- the name the owner chose to show the agency
    object_key          TEXT NOT NULL,          -- where the bytes are in the clip store
    sha256              TEXT NOT NULL,          -- hex, computed at upload
    size                INTEGER NOT NULL,
    content_type        TEXT NOT NULL,
    created_at          TEXT NOT NULL,
    delete_after        TEXT NOT NULL,          -- retention
    first_downloaded_at TEXT,                   -- after it, the owner can no longer withdraw
    withdrawn_at        TEXT,
    deleted_at          TEXT
);
CREATE INDEX clips_by_request ON clips (request_id);
CREATE INDEX clips_by_owner ON clips (owner_id);

-- Every download by an agency.
CREATE TABLE clip_accesses (
    id         INTEGER PRIMARY KEY,
    clip_id    TEXT NOT NULL REFERENCES clips (id),
    agency_id  TEXT NOT NULL,
    by_account TEXT,
    by_token   TEXT,
    at         TEXT NOT NULL
);
CREATE INDEX clip_accesses_by_clip ON clip_accesses (clip_id);
