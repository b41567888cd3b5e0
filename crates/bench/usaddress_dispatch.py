#!/usr/bin/env python3
"""usaddress (the Python CRF address parser) on Porchlight's labelled dispatch locations.

Prints how many strings usaddress gets exactly right (class, number, street and second street),
judged as Porchlight's own parser is judged in crates/bench/src/locations.rs. Needs
`pip install usaddress`; `cargo run -p porchlight-bench --bin address-eval` runs this script
when it can.
"""
import re
import sys
from pathlib import Path

import usaddress

LABELLED = Path(__file__).resolve().parents[2] / "data" / "locations" / "labelled.tsv"
CLASS = {"address": "numbered", "block": "numbered", "intersection": "intersection",
         "street": "street", "landmark": "none", "empty": "none"}


def normalize(s):
    return " ".join(w for w in re.split(r"[\s,.#;]+", s.upper()) if w)


def number_of(text):
    m = re.match(r"^(\d*)(X*)", text.upper())
    if not m or not (m.group(1) or m.group(2)):
        return None
    digits, xs = m.group(1), m.group(2)
    return int(digits or 0) * 10 ** len(xs)


def classify(text):
    if not text.strip():
        return ("none", None, "", "")
    try:
        tokens = usaddress.parse(text)
    except Exception:
        return ("none", None, "", "")
    labels = [label for _, label in tokens]
    number = " ".join(t for t, l in tokens if l == "AddressNumber")
    first = " ".join(t for t, l in tokens if l.startswith("StreetName"))
    second = " ".join(t for t, l in tokens if l.startswith("SecondStreetName"))
    if "IntersectionSeparator" in labels:
        return ("intersection", None, first, second)
    if number:
        return ("numbered", number_of(number), first, "")
    if first:
        return ("street", None, first, "")
    return ("none", None, "", "")


def main():
    total = right = 0
    for line in LABELLED.read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        city, text, kind, number, street, street2 = line.split("\t")
        text = text.replace("\\n", "\n")
        want = (CLASS[kind], int(number) if number else None, normalize(street), normalize(street2))
        c, n, s1, s2 = classify(text)
        got = (c, n, normalize(s1), normalize(s2))
        total += 1
        right += got == want
        if "--misses" in sys.argv and got != want:
            print(f"    miss: {text!r} -> {got}")
    print(f"  usaddress exactly right     {right:>4}  {100 * right / total:6.2f}%  (of {total})")


if __name__ == "__main__":
    main()
