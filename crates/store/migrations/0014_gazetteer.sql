-- The gazetteer (issue 14): points of the hundred blocks and intersections of an agency's
-- streets, from a table the operator imports, to place calls that come without coordinates.
-- Keyed by the block or intersection as the address parser reads it: never a house.
CREATE TABLE gazetteer (
    agency_id TEXT NOT NULL REFERENCES agencies (id),
    key       TEXT NOT NULL,
    lat       REAL NOT NULL,
    lon       REAL NOT NULL,
    PRIMARY KEY (agency_id, key)
);
