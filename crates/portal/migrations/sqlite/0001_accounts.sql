-- The portal's own database (portal.db, beside the incident world's porchlight.db, sharing no
-- table with it): accounts and their roles, agencies as the portal knows them, web sessions
-- and agencies' API tokens. Times are RFC 3339 text in UTC with milliseconds.

-- Anyone who signs in. A camera owner is a resident with cameras; officers and agency
-- administrators belong to one agency.
CREATE TABLE accounts (
    id            TEXT PRIMARY KEY,          -- random UUID
    email         TEXT NOT NULL UNIQUE,      -- lower-cased
    display_name  TEXT NOT NULL,             -- what an officer sees of a clip's sharer
    password_hash TEXT NOT NULL,             -- argon2id PHC string
    role          TEXT NOT NULL,             -- resident | officer | agency_admin | moderator | platform_admin
    agency_id     TEXT REFERENCES agencies (id),
    created_at    TEXT NOT NULL,
    CHECK ((role IN ('officer', 'agency_admin')) = (agency_id IS NOT NULL))
);

-- An agency may post requests only once a platform administrator has verified it.
CREATE TABLE agencies (
    id          TEXT PRIMARY KEY,            -- a short slug, like the incident world's ids
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    verified_at TEXT,
    verified_by TEXT REFERENCES accounts (id)
);

-- A signed-in browser: the cookie holds the token, this table its SHA-256 only, and the
-- hash of the CSRF token that must come back in a header with every change.
CREATE TABLE sessions (
    token_hash  BLOB PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    csrf_hash   BLOB NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);

-- An agency system's token: SHA-256 only, scoped, expiring, revocable.
CREATE TABLE api_tokens (
    id          TEXT PRIMARY KEY,
    token_hash  BLOB NOT NULL UNIQUE,
    agency_id   TEXT NOT NULL REFERENCES agencies (id),
    created_by  TEXT NOT NULL REFERENCES accounts (id),
    name        TEXT NOT NULL,
    scopes      TEXT NOT NULL,               -- JSON array
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    revoked_at  TEXT
);
