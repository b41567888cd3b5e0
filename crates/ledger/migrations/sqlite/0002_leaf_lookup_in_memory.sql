-- Finding an entry by its leaf hash is answered from memory (the log keeps every leaf hash
-- for its tree anyway): an index of random 32-byte keys cost most of an append's time.
DROP INDEX entries_by_leaf;
