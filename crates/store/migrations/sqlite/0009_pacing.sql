-- Pacing (issue 5): a subscriber's quiet hours, daily budget and digest, as the JSON document
-- they wrote (NULL: live alerts at any hour, no budget, a daily digest at 07:00 UTC); and
-- whether each alert went out live or was held for the digest.
ALTER TABLE subscriptions ADD COLUMN pacing TEXT;
ALTER TABLE alerts ADD COLUMN delivery TEXT NOT NULL DEFAULT 'live';
