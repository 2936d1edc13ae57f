"""``lrfr bench fast``: what ``lrfr.evaluate(fast=True)`` (bfloat16 embedding) saves and what it changes.

On real LFW (``$LRFR_SHARED/data/lfw`` and the CASIA MobileFaceNet): for ``hr`` and ``bicubic`` 8×,
LFW's 6,000 pairs and LFW-BLUFR's 10 trials (headline figures only) are evaluated twice in one
process, with the recognizer in float32 and in bfloat16 autocast. Each row gives one figure's fp32
value, its bf16 value and the difference in points (bf16 − fp32), so the cost of ``--fast`` in
accuracy is a measured number, stated beside its speed-up (the embedding stage's seconds in each
precision, and bf16's own per-row check: the feature cosine to fp32 on its first faces).

``--quick``: the held-out SynthFaces test set with the packaged SynthFaces recognizer (a smoke test;
its figures say nothing about real faces). Without the real data the full bench records why.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from lrfr.bench.common import measure_in_subprocess, shared_root

#: the figures compared, per protocol
FIGURES = {
    "lfw": ["accuracy_mean"],
    "blufr": ["vr@far=0.1%_mean", "dir@rank=1,far=1%_mean", "vr@far=0.1%_mean_minus_std",
              "dir@rank=1,far=1%_mean_minus_std"],
}


def _job(data: str | None, weights: str | None, recognizer: str | None) -> dict[str, Any]:
    import tempfile

    import lrfr
    from lrfr import embedding, protocols

    work = tempfile.mkdtemp(prefix="lrfr-bench-fast-")
    protos = [protocols.get("lfw"), protocols.get("blufr", full_grid=False, progress=False)]
    tables, seconds = {}, {}
    for fast in (False, True):
        embedding.clear_cache()  # each precision embeds every face itself
        t0 = time.perf_counter()
        tables[fast] = lrfr.evaluate(["hr", "bicubic"], protocol=protos, recognizer=recognizer, weights=weights,
                                     data=data, scale=8, workdir=work, progress=False, fast=fast)
        seconds[fast] = {"seconds": time.perf_counter() - t0,
                         "embed_s": sum(s["embed"] for s in tables[fast].attrs["seconds"].values())}
    rows = []
    exact, fast = tables[False], tables[True]
    for (_, a), (_, b) in zip(exact.iterrows(), fast.iterrows()):
        for fig in FIGURES[a["protocol"]]:
            rows.append({"front_end": a["sr"], "protocol": a["protocol"], "figure": fig,
                         "fp32": float(a[fig]), "bf16": float(b[fig]), "diff_points": 100 * (float(b[fig]) - float(a[fig])),
                         "fast_check_cosine_min": float(b["fast_check_cosine_min"])})
    return {"rows": rows, "n_images": {p: int(n) for p, n in zip(exact["protocol"], exact["n_images"])},
            "fp32": seconds[False], "bf16": seconds[True],
            "embed_speedup": seconds[False]["embed_s"] / max(seconds[True]["embed_s"], 1e-9)}


def run(out: Path, quick: bool = False) -> dict[str, Any]:
    root = shared_root()
    data, weights = root / "data" / "lfw", root / "weights" / "mobilefacenet_casia_068.ckpt"
    if quick:
        r = measure_in_subprocess(_job, data=None, weights=None, recognizer=None)
        workload = "SynthFaces held-out test set, packaged SynthFaces sphere20a (smoke test)"
    elif data.is_dir() and weights.is_file():
        r = measure_in_subprocess(_job, data=str(data), weights=str(weights), recognizer="mobilefacenet")
        workload = "real LFW (6,000 pairs; BLUFR's 10 trials, headline), CASIA MobileFaceNet, hr and bicubic 8x"
    else:
        return {"rows": [], "skipped": f"LFW or the CASIA MobileFaceNet not found under {root} (set LRFR_SHARED)"}
    for row in r["rows"]:
        print(f"  {row['front_end']:8s} {row['protocol']:6s} {row['figure']:34s} fp32 {100 * row['fp32']:7.3f}  "
              f"bf16 {100 * row['bf16']:7.3f}  diff {row['diff_points']:+.3f} points")
    print(f"  embedding: fp32 {r['fp32']['embed_s']:.1f} s, bf16 {r['bf16']['embed_s']:.1f} s "
          f"({r['embed_speedup']:.2f}x)")
    return {"workload": workload, **r}
