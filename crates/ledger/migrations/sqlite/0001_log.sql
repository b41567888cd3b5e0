-- The transparency log (issue 9), in its own file (ledger.db), apart from both worlds.
-- Entries are never updated or deleted; `leaf` is RFC 6962's leaf hash of `body`, kept so
-- that an entry can be found by its hash (CT's get-proof-by-hash) and a changed body noticed.
CREATE TABLE entries (
    idx  INTEGER PRIMARY KEY,
    leaf BLOB NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX entries_by_leaf ON entries (leaf);

-- Every tree head signed, so that the log can show it never signed two for one size.
CREATE TABLE heads (
    tree_size INTEGER NOT NULL,
    timestamp INTEGER NOT NULL,
    root      BLOB NOT NULL,
    signature BLOB NOT NULL,
    PRIMARY KEY (tree_size, timestamp)
);

-- How far each source (a world's outbox, a day's counts) has been copied into the log,
-- written in the same transaction as the entries, so nothing is logged twice or lost.
CREATE TABLE cursors (
    source TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
