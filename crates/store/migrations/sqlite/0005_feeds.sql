-- Polled feeds (issue 4): where each agency's poller is in its portal (the checkpoint it resumes
-- from after a restart) and how its polls went (shown at GET /v1/agencies/{id}/feed). Both are
-- JSON written by the poller; the store does not read inside them.
CREATE TABLE feeds (
    agency_id  TEXT PRIMARY KEY REFERENCES agencies (id),
    checkpoint TEXT NOT NULL,
    state      TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
