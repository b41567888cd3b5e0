-- The incident list, newest first (received_at descending, then id): walked in this order and
-- stopped at the page's end, instead of every visible incident sorted for each page (found by
-- load-bench: the list and GeoJSON routes answered 350-500 a second against 3,000 for the rest).
CREATE INDEX incidents_newest ON incidents (received_at DESC, id);
