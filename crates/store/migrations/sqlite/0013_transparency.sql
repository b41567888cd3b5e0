-- The transparency log (issue 9): each policy version (in full, with who approved it) and
-- each push key put in use or revoked is written here as the log's entry (canonical JSON, no
-- personal data) in the same transaction as the change. The binary copies them into the log
-- in order (`seq`), remembering in the log how far it got.
CREATE TABLE transparency_outbox (
    seq   INTEGER PRIMARY KEY AUTOINCREMENT,
    entry TEXT NOT NULL
);

-- Who approved each policy version (a name or an office, published in the log). Versions
-- stored before this migration were approved by nobody on record.
ALTER TABLE policies ADD COLUMN approved_by TEXT NOT NULL DEFAULT '';
