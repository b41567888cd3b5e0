-- Calibrated alerts (issue 5).
-- A subscription's severity floor: calls below it are not alerted. Existing subscriptions keep
-- hearing about every severity, as they did.
ALTER TABLE subscriptions ADD COLUMN min_severity TEXT NOT NULL DEFAULT 'low';

-- An incident closed in a way that takes back its first report (unfounded, cancelled, no
-- report), as the agency's status says; NULL while open or closed otherwise.
ALTER TABLE incidents ADD COLUMN closure TEXT;
ALTER TABLE incident_versions ADD COLUMN closure TEXT;

-- What an alert is: the first word of an incident to this subscriber (new), a change to what
-- they were told (update), or a retraction; updates and retractions name the first alert.
ALTER TABLE alerts ADD COLUMN kind TEXT NOT NULL DEFAULT 'new';
ALTER TABLE alerts ADD COLUMN refers_to INTEGER REFERENCES alerts (id);
CREATE INDEX alerts_by_incident ON alerts (incident_id, subscription_id);
