-- Web Push notices of approved requests (issue 8): residents' browser push subscriptions, and
-- one notice per approved request per subscription of an owner of a camera in its area,
-- queued in the approval's transaction.
CREATE TABLE push_subscriptions (
    id         TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    endpoint   TEXT NOT NULL,
    p256dh     TEXT NOT NULL,
    auth       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (account_id, endpoint)
);

CREATE TABLE push_notices (
    request_id      TEXT NOT NULL REFERENCES requests (id),
    subscription_id TEXT NOT NULL REFERENCES push_subscriptions (id) ON DELETE CASCADE,
    state           TEXT NOT NULL,      -- pending | sent | failed
    attempts        INTEGER NOT NULL DEFAULT 0,
    due_at          TEXT NOT NULL,
    error           TEXT,
    PRIMARY KEY (request_id, subscription_id)
);
CREATE INDEX push_notices_due ON push_notices (due_at) WHERE state = 'pending';
