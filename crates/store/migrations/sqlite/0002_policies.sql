-- Privacy policies as data (issue 3), and the publication delay.

-- Every version of every agency's policy, as the JSON form of its policy document. A change
-- makes a new version; incidents record the version that published them.
CREATE TABLE policies (
    agency_id  TEXT NOT NULL REFERENCES agencies (id),
    version    INTEGER NOT NULL,
    document   TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (agency_id, version)
);

-- When the policy's publication delay ends. Incidents stored before this migration were
-- published at once.
ALTER TABLE incidents ADD COLUMN visible_at TEXT NOT NULL DEFAULT '';
UPDATE incidents SET visible_at = received_at;
CREATE INDEX incidents_by_visibility ON incidents (visible_at);
