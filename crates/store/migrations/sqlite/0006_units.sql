-- The units that responded (issue 4), where the agency's policy publishes them: a JSON array,
-- merged over every row and version of the incident (Dallas sends one row per unit). NULL when
-- none are published, which is the default.
ALTER TABLE incidents ADD COLUMN units TEXT;
ALTER TABLE incident_versions ADD COLUMN units TEXT;
