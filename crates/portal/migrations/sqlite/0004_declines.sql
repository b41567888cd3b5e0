-- An owner's "no" to a request: kept so the request leaves their inbox, and shown to nobody
-- else (police never learn who declined or ignored a request).
CREATE TABLE declines (
    request_id TEXT NOT NULL REFERENCES requests (id),
    owner_id   TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    at         TEXT NOT NULL,
    PRIMARY KEY (request_id, owner_id)
);
