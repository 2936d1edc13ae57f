"""``lrfr bench search --quick``: every backend's probe cost and every index kind's search cost and recall on
face-like galleries, recorded; exact search is its own reference."""
from __future__ import annotations

import json

import pytest

from lrfr.cli import main

pytest.importorskip("onnxruntime")


@pytest.mark.slow
def test_bench_search_records_probe_cost_and_recall_per_kind(tmp_path):
    assert main(["bench", "search", "--quick", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "search.json").read_text())
    assert {e["backend"] for e in result["embedding"]} == {"torch", "onnxruntime"}
    assert all(e["ms_per_probe"] > 0 for e in result["embedding"])
    rows = result["galleries"]
    assert {(r["identities"], r["kind"]) for r in rows} == {(n, k) for n in (1_000, 20_000) for k in ("flat", "ivf", "hnsw")}
    for r in rows:
        assert 0 <= r["recall@1"] <= 1 and 0 <= r["top1_identity"] <= 1 and r["end_to_end_probes_per_s"] > 0
        if r["kind"] == "flat":
            assert r["recall@1"] == 1.0  # the reference itself
    flat = {r["identities"]: r["top1_identity"] for r in rows if r["kind"] == "flat"}
    assert flat[1_000] > 0.5  # face-like clusters: exact search finds the probe's identity mostly
