"""`lrfr bench all`'s report: every bench's JSON in one file, and a Markdown summary that shows each
measured row (checked on the bench JSON files committed under docs/bench, real outputs of `lrfr bench`)."""
from __future__ import annotations

import json
from pathlib import Path

from lrfr.bench.report import LABELS, _fmt, write

DOCS = Path(__file__).resolve().parents[1] / "docs" / "bench"


def test_report_gathers_every_bench_and_summarizes_each_row(tmp_path):
    results = {p.stem: json.loads(p.read_text()) for p in sorted(DOCS.glob("*.json")) if p.stem != "report"}
    assert "sr" in results and "protocols" in results
    report_path, summary_path = write(tmp_path, results)
    report = json.loads(report_path.read_text())
    assert set(report["benches"]) == set(results) and report["machine"]["cpu_count"]
    summary = summary_path.read_text()
    for name, result in results.items():
        assert f"## {name}" in summary
        lines = summary.splitlines()
        for row in result.get("rows", []):
            if "images_per_s" in row:
                label = next(row[c] for c in LABELS if c in row)
                assert any(line.startswith(f"| {label} |") and f"| {_fmt(row['images_per_s'])} |" in line
                           for line in lines), (name, row)
    headline = results["protocols"]["cpu"]["headline"]["run_s"]  # a job's line, from docs/bench/protocols.json
    assert "- cpu / headline: setup_s" in summary and f"run_s {headline:.3g}" in summary
