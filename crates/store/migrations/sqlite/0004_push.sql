-- Push from dispatch centres (issue 4): each agency's mapping file is kept, so pushed records
-- are read with the same rules (time zone, call-type table) as its files; and each agency has
-- signing keys for its pushes. At most two keys are live at once, so a centre can rotate.
ALTER TABLE agencies ADD COLUMN mapping TEXT;

CREATE TABLE push_keys (
    agency_id  TEXT NOT NULL REFERENCES agencies (id),
    key_id     TEXT NOT NULL,
    secret     BLOB NOT NULL,               -- the HMAC-SHA256 key the centre signs with
    created_at TEXT NOT NULL,
    revoked_at TEXT,
    PRIMARY KEY (agency_id, key_id)
);
