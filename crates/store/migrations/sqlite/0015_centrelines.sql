-- Street centrelines with address ranges (issue 14), from the Census's TIGER/Line files or a
-- city's own, to place calls that come without coordinates: a hundred block at the middle of
-- its address range along the segment, an intersection where two streets meet. Street names
-- and lines only: nothing here names a house or a person. An import replaces the agency's
-- centrelines as a whole.
CREATE TABLE centrelines (
    agency_id  TEXT NOT NULL REFERENCES agencies (id),
    -- The street as the centreline file names it.
    street     TEXT NOT NULL,
    -- [[lon, lat], ...], as GeoJSON writes a line.
    line       TEXT NOT NULL,
    left_from  INTEGER,
    left_to    INTEGER,
    right_from INTEGER,
    right_to   INTEGER
);
CREATE INDEX centrelines_agency ON centrelines (agency_id);

-- How sure a point Porchlight placed is ('high', 'medium', 'low'); NULL for the feed's own
-- point, and where there is none.
ALTER TABLE incidents ADD COLUMN place_confidence TEXT;
ALTER TABLE incident_versions ADD COLUMN place_confidence TEXT;

-- A number that changes whenever an agency's gazetteer does (an import, a learned block), so a
-- process that keeps the gazetteer in memory knows when to read it again.
CREATE TABLE gazetteer_revisions (
    agency_id TEXT PRIMARY KEY REFERENCES agencies (id),
    revision  INTEGER NOT NULL
);
