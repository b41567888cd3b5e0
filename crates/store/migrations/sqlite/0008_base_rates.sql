-- The base rate an alert is read by (issue 5): how many calls of its category the subscriber's
-- area had in the 30 days up to the call, and the monthly average over the 12 months up to it.
-- Computed when the alert is made; NULL for updates and retractions.
ALTER TABLE alerts ADD COLUMN last_30_days INTEGER;
ALTER TABLE alerts ADD COLUMN monthly_average REAL;
