"""``lrfr bench fast --quick``: both precisions evaluated, every figure's difference and bf16's own check recorded."""
from __future__ import annotations

import json
import math

import pytest

from lrfr.cli import main


@pytest.mark.slow
def test_bench_fast_records_each_figure_in_both_precisions(tmp_path):
    assert main(["bench", "fast", "--quick", "--device", "cpu", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "fast.json").read_text())
    rows = result["rows"]
    assert {(r["front_end"], r["protocol"]) for r in rows} == {(fe, p) for fe in ("hr", "bicubic")
                                                                for p in ("lfw", "blufr")}
    for r in rows:
        assert math.isclose(r["diff_points"], 100 * (r["bf16"] - r["fp32"]), abs_tol=1e-9)
        assert abs(r["diff_points"]) < 5  # bf16 moves a figure by tenths of a point, never by a whole fold
        assert 0.98 < r["fast_check_cosine_min"] <= 1.0 + 1e-6
    assert result["fp32"]["embed_s"] > 0 and result["bf16"]["embed_s"] > 0
