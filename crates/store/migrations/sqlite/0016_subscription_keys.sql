-- Each subscription's key: a number the store gives once and never again, which the matcher
-- holds and answers with instead of the 16-byte id. Keys of deleted subscriptions are not
-- reused (`subscription_keys` counts every key ever given), so an index that has not yet
-- heard of a deletion can never hand the old area's match to a new subscriber.
ALTER TABLE subscriptions ADD COLUMN key INTEGER;
UPDATE subscriptions SET key = rowid;
CREATE UNIQUE INDEX subscriptions_by_key ON subscriptions (key);
CREATE TABLE subscription_keys (last INTEGER NOT NULL);
INSERT INTO subscription_keys (last) SELECT coalesce(max(key), 0) FROM subscriptions;
