#!/usr/bin/env python3
"""Draw the strings of the labelled dispatch-location set from ../shared/data/cad.

Run from the repository root with the shared data beside it:
    python3 data/locations/draw.py > /tmp/drawn.tsv
It prints city<TAB>text, a seeded random sample of distinct location strings per city (the
same draw every time). The labels in labelled.tsv were written for these strings; see README.md.
"""
import csv
import random
import sys
from pathlib import Path

CAD = Path(__file__).resolve().parents[3] / "shared" / "data" / "cad"
if not CAD.exists():
    CAD = Path("../shared/data/cad")


def distinct(values):
    seen, out = set(), []
    for v in values:
        if v not in seen:
            seen.add(v)
            out.append(v)
    return out


def rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        yield from csv.DictReader(f)


def main():
    rng = random.Random(20261128)
    draws = []
    mke = distinct(r["location"] for r in rows(CAD / "milwaukee-cfs/data.csv"))
    draws += [("milwaukee", s) for s in rng.sample(mke, 170)]
    slo = distinct(r["address"] for r in rows(CAD / "slo-pd-log/SLOPD_report.csv"))
    draws += [("san-luis-obispo", s) for s in rng.sample(slo, 170)]
    sea = distinct(r["Hundred Block Location"] for r in rows(CAD / "seattle-spd-911/Seattle_Police_Department_911_Incident_Response.csv"))
    draws += [("seattle", s) for s in rng.sample(sea, 80)]
    dal = []
    for name in ("are8-xahz.csv", "sample2.csv"):
        dal += [(r["block"], r["location"]) for r in rows(CAD / "dallas-active-calls" / name)]
    draws += [("dallas", f"{b} {l}".strip() if b else l) for b, l in distinct(dal)]
    stl = distinct(r["location"] for r in rows(CAD / "stlouis-cfs/cfsraw.csv"))
    draws += [("st-louis", s) for s in stl]
    w = csv.writer(sys.stdout, delimiter="\t", lineterminator="\n")
    for city, text in draws:
        w.writerow([city, text.replace("\n", "\\n")])


if __name__ == "__main__":
    main()
