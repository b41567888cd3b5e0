-- Private mode (issue 5): a subscription whose area is a set of coarse H3 cells, so the server
-- never learns the subscriber's point. `cells` is a JSON array of cell indexes; for such a
-- subscription lat, lon and radius_m are 0 and mean nothing (the columns predate private mode
-- and SQLite cannot drop their NOT NULL without rebuilding a table that alerts refer to).
ALTER TABLE subscriptions ADD COLUMN cells TEXT;
