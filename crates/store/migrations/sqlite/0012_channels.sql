-- Channels (issue 7): where a subscriber's alerts go besides the live streams, and each
-- alert's delivery to each channel with every attempt at it.

-- A browser's push subscription, a webhook or an e-mail address of one subscription.
CREATE TABLE channels (
    id              TEXT PRIMARY KEY,       -- random UUID
    subscription_id TEXT NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,          -- webpush | webhook | email
    target          TEXT NOT NULL,          -- JSON: the endpoint and keys, the URL or the address
    -- A webhook's signing secret; an e-mail address's unsubscribe token. Never listed again
    -- after the channel is made.
    secret          BLOB NOT NULL,
    state           TEXT NOT NULL,          -- active | paused | gone
    -- The first failure since the last success, and how many attempts failed since: a
    -- channel that keeps failing is paused.
    failing_since   TEXT,
    failures        INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT NOT NULL
);
CREATE INDEX channels_by_subscription ON channels (subscription_id);
CREATE UNIQUE INDEX channels_by_secret ON channels (secret);

-- One row per live alert per channel, written in the alert's own transaction, and one per
-- closed digest period per e-mail channel: the queue the sender works from, and (state
-- 'dead') the dead letters a subscriber can redeliver. The unique keys make (subscriber,
-- incident, version, channel) a delivery's idempotency key, and (channel, period) a digest's.
CREATE TABLE deliveries (
    id          INTEGER PRIMARY KEY,
    channel_id  TEXT NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    alert_id    INTEGER REFERENCES alerts (id) ON DELETE CASCADE,
    -- A digest: the alerts held back in [digest_from, digest_to).
    digest_from TEXT,
    digest_to   TEXT,
    state       TEXT NOT NULL,              -- pending | delivered | dead
    attempts    INTEGER NOT NULL DEFAULT 0,
    -- Retries stop this long after the first attempt window opens (redelivery reopens it).
    since       TEXT NOT NULL,
    -- When the sender may take it next; bumped by a lease while an attempt is under way.
    due_at      TEXT NOT NULL,
    done_at     TEXT,
    reason      TEXT,                       -- why a dead letter is dead
    UNIQUE (channel_id, alert_id),
    UNIQUE (channel_id, digest_to),
    CHECK ((alert_id IS NULL) != (digest_to IS NULL))
);
CREATE INDEX deliveries_due ON deliveries (due_at) WHERE state = 'pending';
CREATE INDEX deliveries_by_channel ON deliveries (channel_id, id);

-- Every attempt: the delivery log at GET /v1/subscriptions/{id}/deliveries.
CREATE TABLE delivery_attempts (
    id          INTEGER PRIMARY KEY,
    delivery_id INTEGER NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    at          TEXT NOT NULL,
    outcome     TEXT NOT NULL,              -- delivered | failed | gone
    status      INTEGER,                    -- the HTTP status or SMTP reply code
    error       TEXT,
    duration_ms INTEGER NOT NULL
);
CREATE INDEX attempts_by_delivery ON delivery_attempts (delivery_id, id);
