"""``lrfr run`` for ``kind = "pfsr"``: the SR recipe's runner with PFSR's progressive training."""
from __future__ import annotations

from lrfr.recipes.sr.run import run_sr


def run_pfsr(cfg, **kwargs) -> dict:
    """Train PFSR step by step (:mod:`lrfr.recipes.pfsr.recipe`); the outputs are the SR recipe's."""
    from lrfr.recipes.pfsr.recipe import train_pfsr

    return run_sr(cfg, trainer=train_pfsr, **kwargs)
