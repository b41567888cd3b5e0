-- Free text where an agency's policy publishes it: always scrubbed by the privacy stage
-- before it gets here (issue 3). NULL when the policy drops free text, which is the default.
ALTER TABLE incidents ADD COLUMN narrative TEXT;
ALTER TABLE incident_versions ADD COLUMN narrative TEXT;
