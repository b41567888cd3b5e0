-- The transparency log (issue 9): each event of a request's life, each clip access and each
-- grant of power is written here as the log's entry (canonical JSON, no personal data) in the
-- same transaction as the event itself. The binary copies them into the log in order
-- (`seq`), remembering in the log how far it got, so none is lost or logged twice.
CREATE TABLE transparency_outbox (
    seq   INTEGER PRIMARY KEY AUTOINCREMENT,
    entry TEXT NOT NULL
);
