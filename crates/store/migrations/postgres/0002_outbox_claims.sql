-- Outbox rows are claimed by an alert worker for a while (several workers, in several
-- processes, share the store): a row claimed by a worker that died is claimed again when
-- its claim runs out.
ALTER TABLE outbox ADD COLUMN claimed_until TEXT;
