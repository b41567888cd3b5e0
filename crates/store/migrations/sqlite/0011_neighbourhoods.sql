-- Neighbourhoods (issue 5): a subscription whose area is a polygon, its corners as a JSON
-- array of [longitude, latitude] pairs; its lat, lon and radius_m are 0, as for private mode.
ALTER TABLE subscriptions ADD COLUMN polygon TEXT;
