-- The gazetteer (issue 14): points of the hundred blocks and intersections of an agency's
-- streets, from a table the operator imports, or learned from the agency's own rows that
-- have coordinates, to place calls that come without. Keyed by the block or intersection as
-- the address parser reads it: never a house.
CREATE TABLE gazetteer (
    agency_id TEXT NOT NULL REFERENCES agencies (id),
    key       TEXT NOT NULL,
    lat       REAL NOT NULL,
    lon       REAL NOT NULL,
    -- 0 for a point the operator imported; else how many rows' snapped points it averages.
    samples   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (agency_id, key)
);

-- Where each version's point came from: 'feed' or 'gazetteer'; NULL without a point (and for
-- versions stored before this, whose points all came from their feeds).
ALTER TABLE incidents ADD COLUMN placed_by TEXT;
ALTER TABLE incident_versions ADD COLUMN placed_by TEXT;

-- An external geocoder's answers (issue 14), by the query it was asked: a published block or
-- intersection with the agency's place, never an address. lat and lon are NULL where it found
-- nothing, so that the same question is not asked again.
CREATE TABLE geocoded (
    query      TEXT PRIMARY KEY,
    lat        REAL,
    lon        REAL,
    asked_at   TEXT NOT NULL
);
