#!/usr/bin/env python3
"""How fast SQLite itself takes Porchlight's schema, without Porchlight: the ceiling an import into
SQLite can reach on this machine (issue 4's 200,000 rows a second).

Applies crates/store/migrations to a fresh database in a temporary folder, with the store's
pragmas (WAL, synchronous=normal, temp_store=memory, a 32 MB cache, foreign keys), and writes one
incident, its first version and its outbox row for each of 33,968 rows (the Milwaukee file's
count), 1,000 rows a transaction, with executemany: with random ids, with sequential ids, without
foreign keys, and without the three secondary indexes on incidents.

    python3 crates/bench/sqlite_schema_ceiling.py      (from the repository root)

Python's sqlite3 may link an older SQLite than the one the store bundles; it is a reference point,
not the store's own figure (import-bench gives that).
"""

import glob
import os
import random
import sqlite3
import tempfile
import time

N = 33968
BATCH = 1000


def run(label, foreign_keys=True, drop=(), sequential=True):
    folder = tempfile.mkdtemp()
    db = sqlite3.connect(os.path.join(folder, "x.db"), isolation_level=None)
    for pragma in ("journal_mode=wal", "synchronous=normal", "temp_store=memory", "cache_size=-32768",
                   "foreign_keys=" + ("on" if foreign_keys else "off")):
        db.execute("pragma " + pragma)
    for migration in sorted(glob.glob("crates/store/migrations/*.sql")):
        db.executescript(open(migration).read())
    for index in drop:
        db.execute("drop index " + index)
    db.execute("insert into agencies (id, name, time_zone, created_at) values ('milwaukee', 'M', 'America/Chicago', 'x')")
    rng = random.Random(4)
    rows = []
    for i in range(N):
        rid = ("%032x" % i) if sequential else "%032x" % rng.getrandbits(128)
        rows.append((rid, "milwaukee", rng.getrandbits(256).to_bytes(32, "big"), 1, "2018-05-01T05:10:28.000Z",
                     "2018-05-01T05:20:28.000Z", "2026-11-28T00:00:00.000Z", "TRBL W/SUBJ", "disorder", None,
                     "Unable to Locate Complainant", "block", "5200 block of N 35th St",
                     43.11 + rng.random() / 100, -87.95, 1, None, None))
    start = time.time()
    for b in range(0, N, BATCH):
        chunk = rows[b:b + BATCH]
        db.execute("begin immediate")
        db.executemany(
            "insert into incidents (id, agency_id, source_key, version, received_at, visible_at, updated_at,"
            " call_type, category, priority, status, location_kind, location, lat, lon, policy_version,"
            " narrative, units) values (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", chunk)
        db.executemany(
            "insert into incident_versions (incident_id, version, updated_at, call_type, category, priority,"
            " status, location_kind, location, lat, lon, policy_version, narrative, units)"
            " values (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", [(r[0], 1, r[6]) + r[7:] for r in chunk])
        db.executemany("insert into outbox (incident_id, version, created_at) values (?,?,?)",
                       [(r[0], 1, r[6]) for r in chunk])
        db.execute("commit")
    seconds = time.time() - start
    print(f"{label:40} {N / seconds:>8.0f} rows/s")


if __name__ == "__main__":
    print(f"SQLite {sqlite3.sqlite_version} through Python's sqlite3, {N} rows")
    run("schema as is, random ids", sequential=False)
    run("schema as is, sequential ids")
    run("no foreign keys", foreign_keys=False)
    run("without the 3 incidents indexes",
        drop=("incidents_by_time", "incidents_by_place", "incidents_by_visibility"))
