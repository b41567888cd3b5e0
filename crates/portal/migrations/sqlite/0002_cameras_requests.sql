-- Cameras and video requests (issue 8).

-- A resident's camera. Its place is shown to its owner only: never to police, never in any
-- other answer; it decides only whose inbox a request reaches.
CREATE TABLE cameras (
    id         TEXT PRIMARY KEY,
    owner_id   TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    lat        REAL NOT NULL,
    lon        REAL NOT NULL,
    paused_at  TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX cameras_by_owner ON cameras (owner_id);
CREATE INDEX cameras_by_place ON cameras (lat, lon) WHERE paused_at IS NULL;

-- An agency's request for footage: bounded in place and time, public once a moderator
-- approves it, and linked to no CAD incident (there is no column for one).
CREATE TABLE requests (
    id            TEXT PRIMARY KEY,
    agency_id     TEXT NOT NULL REFERENCES agencies (id),
    officer_id    TEXT REFERENCES accounts (id),     -- NULL when an agency's system posted it
    token_id      TEXT REFERENCES api_tokens (id),
    case_number   TEXT NOT NULL,
    incident_type TEXT NOT NULL,                     -- from the portal's taxonomy
    area          TEXT NOT NULL,                     -- JSON: a circle or a polygon
    area_m2       REAL NOT NULL,
    -- The bounding box of the area, to find cameras in it.
    min_lat REAL NOT NULL, min_lon REAL NOT NULL, max_lat REAL NOT NULL, max_lon REAL NOT NULL,
    window_start  TEXT NOT NULL,
    window_end    TEXT NOT NULL,
    description   TEXT NOT NULL,
    contact       TEXT NOT NULL,
    flags         TEXT NOT NULL,                     -- JSON array of reasons moderation must refuse it
    state         TEXT NOT NULL,                     -- pending | approved | rejected | closed
    moderated_by  TEXT REFERENCES accounts (id),
    moderated_at  TEXT,
    reason        TEXT,                              -- a refusal's reason, public
    created_at    TEXT NOT NULL
);
CREATE INDEX requests_by_agency ON requests (agency_id, state);
CREATE INDEX requests_approved ON requests (state, max_lat, min_lat) WHERE state = 'approved';
