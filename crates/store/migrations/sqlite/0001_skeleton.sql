-- The first schema: agencies, incidents and their versions, withheld counts, the outbox,
-- subscriptions and alerts. Times are RFC 3339 text in UTC with milliseconds
-- ("2018-05-01T05:10:28.000Z"), so that text order is time order.
-- Nothing here holds a raw address, raw coordinates or an agency's incident number: the
-- privacy stage runs before any of these tables is written.

-- Installation settings. `incident_key` is the secret that keys the hash of agencies'
-- incident numbers (see incidents.source_key).
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
);

CREATE TABLE agencies (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    time_zone  TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- One row per incident at its latest version.
CREATE TABLE incidents (
    id             TEXT PRIMARY KEY,      -- Porchlight's own UUID, the only public id
    agency_id      TEXT NOT NULL REFERENCES agencies (id),
    -- HMAC-SHA256 of the agency's incident number under settings.incident_key: recognises a
    -- new version of a known incident without keeping a number that the agency's own
    -- records pair with the full address.
    source_key     BLOB NOT NULL,
    version        INTEGER NOT NULL,
    received_at    TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    call_type      TEXT NOT NULL,
    category       TEXT NOT NULL,
    priority       TEXT,
    status         TEXT,
    location_kind  TEXT NOT NULL,         -- block | intersection | street
    location       TEXT NOT NULL,         -- generalized: "5200 block of N 35th St"
    lat            REAL,                  -- snapped to an H3 cell centre
    lon            REAL,
    policy_version INTEGER NOT NULL,
    UNIQUE (agency_id, source_key)
);
CREATE INDEX incidents_by_time ON incidents (received_at);
CREATE INDEX incidents_by_place ON incidents (lat, lon);

-- Every version of every incident, so alerts and the incident's story show what was known then.
CREATE TABLE incident_versions (
    incident_id    TEXT NOT NULL REFERENCES incidents (id),
    version        INTEGER NOT NULL,
    updated_at     TEXT NOT NULL,
    call_type      TEXT NOT NULL,
    category       TEXT NOT NULL,
    priority       TEXT,
    status         TEXT,
    location_kind  TEXT NOT NULL,
    location       TEXT NOT NULL,
    lat            REAL,
    lon            REAL,
    policy_version INTEGER NOT NULL,
    PRIMARY KEY (incident_id, version)
);

-- Withheld records are counted, never kept.
CREATE TABLE withheld_counts (
    agency_id TEXT NOT NULL REFERENCES agencies (id),
    day       TEXT NOT NULL,                -- YYYY-MM-DD, in the agency's time zone
    category  TEXT NOT NULL,
    reason    TEXT NOT NULL,
    count     INTEGER NOT NULL,
    PRIMARY KEY (agency_id, day, category, reason)
);

-- Written in the same transaction as each new incident version; the alert worker matches and
-- delivers from here, so a crash between storing and alerting loses nothing.
CREATE TABLE outbox (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    version     INTEGER NOT NULL,
    created_at  TEXT NOT NULL,
    done_at     TEXT
);
CREATE INDEX outbox_pending ON outbox (id) WHERE done_at IS NULL;

CREATE TABLE subscriptions (
    id         TEXT PRIMARY KEY,            -- random UUID; whoever holds it owns the subscription
    lat        REAL NOT NULL,
    lon        REAL NOT NULL,
    radius_m   REAL NOT NULL,
    categories TEXT NOT NULL,               -- JSON array of category names; empty = all
    created_at TEXT NOT NULL
);

-- At most one alert per subscription and incident version (DESIGN.md invariant 3).
CREATE TABLE alerts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    subscription_id TEXT NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    incident_id     TEXT NOT NULL,
    version         INTEGER NOT NULL,
    created_at      TEXT NOT NULL,
    UNIQUE (subscription_id, incident_id, version),
    FOREIGN KEY (incident_id, version) REFERENCES incident_versions (incident_id, version)
);
CREATE INDEX alerts_by_subscription ON alerts (subscription_id, id);
