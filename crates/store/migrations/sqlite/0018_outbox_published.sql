-- With a bus between processes (NATS JetStream), each outbox row is published to it once its
-- incident may be seen; a row stored but not yet published (its writer died first, or its
-- publication delay has not passed) is found here and published by whichever process looks.
ALTER TABLE outbox ADD COLUMN published_at TEXT;
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL AND done_at IS NULL;
-- A delivery worker told of new alerts by the bus leases their deliveries.
CREATE INDEX deliveries_by_alert ON deliveries (alert_id) WHERE state = 'pending';
