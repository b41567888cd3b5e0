"""Approximate street centrelines of Milwaukee, made from Milwaukee's own geocoded calls.

No street centreline file for the shared cities was at hand, so this script derives one, in
TIGER/Line's address-range layout, from the calls for service in ../milwaukee-cfs/data.csv
(the calls of 2018-05-01 to 2018-05-14 only, so that the calls of 2018-05-15 to 2018-05-21
can test it): for each street, the median point of the calls at each hundred block stands for
the middle of that block (house number NN50); consecutive known blocks of a street, at most
six blocks and 900 m apart, are joined into a segment whose address ranges run from the middle
of its first block to the middle of its last (even numbers on the left, odd on the right).
Points more than 250 m from their block's median are dropped as geocoding slips.

Run from this folder:  python3 make.py
Writes centreline.geojson (every street with two known blocks or more) and
district-4.csv (the same segments north-west of 43.08 N, 87.96 W, as CSV with WKT lines and
a city-style split name, for the layout test).
"""
import csv
import json
import math
import re
import statistics
from collections import defaultdict

HOUSE = re.compile(r"^(\d+)(?:-[A-Z0-9]+)? ((?:[NSEW] )?[A-Z0-9 .']+?),MKE$")
TRAIN_END = "2018-05-15"
MAX_GAP_BLOCKS = 6
MAX_GAP_M = 900
SLIP_M = 250


def metres(a, b):
    (la, oa), (lb, ob) = a, b
    x = (ob - oa) * 111195 * math.cos(math.radians((la + lb) / 2))
    y = (lb - la) * 111195
    return math.hypot(x, y)


def blocks_of(rows):
    points = defaultdict(list)
    for r in rows:
        m = HOUSE.match(r["location"])
        if not m or not r["latitude"] or r["time"] >= TRAIN_END:
            continue
        lat, lon = float(r["latitude"]), float(r["longitude"])
        if not (42.8 < lat < 43.25 and -88.1 < lon < -87.8):
            continue
        points[(m.group(2), int(m.group(1)) // 100 * 100)].append((lat, lon))
    blocks = {}
    for key, ps in points.items():
        centre = (statistics.median(p[0] for p in ps), statistics.median(p[1] for p in ps))
        kept = [p for p in ps if metres(p, centre) <= SLIP_M]
        if kept:
            blocks[key] = (statistics.median(p[0] for p in kept), statistics.median(p[1] for p in kept))
    return blocks


def segments_of(blocks):
    streets = defaultdict(list)
    for (street, block), point in blocks.items():
        streets[street].append((block, point))
    out = []
    for street, known in sorted(streets.items()):
        known.sort()
        for (a, pa), (b, pb) in zip(known, known[1:]):
            if (b - a) // 100 > MAX_GAP_BLOCKS or metres(pa, pb) > MAX_GAP_M:
                continue
            out.append((street, a, b, pa, pb))
    return out


def main():
    with open("../milwaukee-cfs/data.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    segments = segments_of(blocks_of(rows))
    features = []
    for street, a, b, pa, pb in segments:
        features.append({
            "type": "Feature",
            "properties": {
                "FULLNAME": street.title().replace("Th ", "th ").replace("St ", "st "),
                "LFROMHN": str(a + 50), "LTOHN": str(b + 50),
                "RFROMHN": str(a + 51), "RTOHN": str(b + 51),
            },
            "geometry": {"type": "LineString", "coordinates": [
                [round(pa[1], 6), round(pa[0], 6)], [round(pb[1], 6), round(pb[0], 6)]]},
        })
    with open("centreline.geojson", "w") as f:
        f.write('{"type":"FeatureCollection","features":[\n')
        f.write(",\n".join(json.dumps(x, separators=(",", ":")) for x in features))
        f.write("\n]}\n")
    with open("district-4.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["OBJECTID", "DIR", "STREET", "STTYPE", "LO_EVEN", "HI_EVEN", "LO_ODD", "HI_ODD", "WKT"])
        n = 0
        for street, a, b, pa, pb in segments:
            if pa[0] < 43.08 or pa[1] > -87.96:
                continue
            words = street.split()
            direction = words[0] if words[0] in ("N", "S", "E", "W") else ""
            rest = words[1:] if direction else words
            kind = rest[-1] if len(rest) > 1 else ""
            name = " ".join(rest[:-1] if kind else rest)
            n += 1
            w.writerow([n, direction, name, kind, a + 50, b + 50, a + 51, b + 51,
                        f"LINESTRING ({pa[1]:.6f} {pa[0]:.6f}, {pb[1]:.6f} {pb[0]:.6f})"])
    print(f"{len(features)} segments")


if __name__ == "__main__":
    main()
