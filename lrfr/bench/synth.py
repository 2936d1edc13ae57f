"""SynthFaces rendering speed (images/s at 112×96, one process, one torch thread)."""
from __future__ import annotations

from pathlib import Path


def run(out_dir: Path, quick: bool = False) -> dict:
    from lrfr.data.synth import measure_speed

    n = 100 if quick else 1000
    rates = [measure_speed(n=n) for _ in range(1 if quick else 3)]
    return {"size": [112, 96], "images": n, "images_per_s_runs": rates, "images_per_s_best": max(rates)}
