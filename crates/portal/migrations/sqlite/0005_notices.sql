-- E-mail notices of approved requests to the owners of cameras in their areas: written in the
-- approval's own transaction, sent by the portal's notifier, retried until sent.
CREATE TABLE notices (
    request_id TEXT NOT NULL REFERENCES requests (id),
    owner_id   TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    state      TEXT NOT NULL,       -- pending | sent | failed
    attempts   INTEGER NOT NULL DEFAULT 0,
    due_at     TEXT NOT NULL,
    sent_at    TEXT,
    error      TEXT,
    PRIMARY KEY (request_id, owner_id)
);
CREATE INDEX notices_due ON notices (due_at) WHERE state = 'pending';
