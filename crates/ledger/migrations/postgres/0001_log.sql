-- The transparency log in PostgreSQL: the tables the SQLite migrations (../sqlite) leave, in
-- the log's own schema. Entries are never updated or deleted; `leaf` is RFC 6962's leaf hash
-- of `body`. Finding an entry by its leaf hash is answered from memory, so `leaf` has no index.
CREATE FUNCTION hex(b BYTEA) RETURNS TEXT LANGUAGE SQL IMMUTABLE STRICT AS $$ SELECT upper(encode(b, 'hex')) $$;

CREATE TABLE entries (
    idx  BIGINT PRIMARY KEY,
    leaf BYTEA NOT NULL,
    body TEXT NOT NULL
);

-- Every tree head signed, so that the log can show it never signed two for one size.
CREATE TABLE heads (
    tree_size BIGINT NOT NULL,
    timestamp BIGINT NOT NULL,
    root      BYTEA NOT NULL,
    signature BYTEA NOT NULL,
    PRIMARY KEY (tree_size, timestamp)
);

-- How far each source has been copied into the log, written with the entries.
CREATE TABLE cursors (
    source TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
