"""Deprecated: the old home of the training code, kept as aliases for one release (lrfr 0.1.x).

The engine moved to :mod:`lrfr.engine` and each recipe to its package under :mod:`lrfr.recipes`
(see ``docs/architecture.md``). ``import lrfr.train.X`` still works for every module that was here and
gives the module at its new place, with a :class:`DeprecationWarning`; the configs' section classes were
merged into :mod:`lrfr.engine.sections` (``SROptimConfig`` is now
:class:`lrfr.recipes.sr.config.GANOptimConfig`; the per-recipe ``*RunConfig`` classes are
:class:`lrfr.engine.sections.RunConfig`). This package goes in the next release.
"""
import importlib
import sys
import warnings

#: old module name → its new place
MOVED = {
    "engine": "lrfr.engine.loop", "checkpoint": "lrfr.engine.checkpoint", "precision": "lrfr.engine.precision",
    "distributed": "lrfr.engine.distributed", "batches": "lrfr.engine.batches", "optim": "lrfr.engine.optim",
    "sections": "lrfr.engine.sections", "figures": "lrfr.engine.figures", "data": "lrfr.engine.training_set",
    "recognizer": "lrfr.recipes.recognizer.recipe", "recognizer_config": "lrfr.recipes.recognizer.config",
    "sr_gan": "lrfr.recipes.sr.recipe", "sr_config": "lrfr.recipes.sr.config", "prior_terms": "lrfr.recipes.sr.prior_terms",
    "pfsr": "lrfr.recipes.pfsr.recipe", "pfsr_config": "lrfr.recipes.pfsr.config",
    "landmarks": "lrfr.recipes.landmarks.recipe", "landmarks_config": "lrfr.recipes.landmarks.config",
    "cface": "lrfr.recipes.cface.algorithm", "cface_config": "lrfr.recipes.cface.config",
    "cface_stages": "lrfr.recipes.cface.stages", "cface_report": "lrfr.recipes.cface.report",
    "triplets": "lrfr.recipes.cface.triplets",
}

warnings.warn("lrfr.train is deprecated: the engine is lrfr.engine and the recipes are lrfr.recipes.* "
              "(see lrfr.train.MOVED)", DeprecationWarning, stacklevel=2)

# Python looks an imported submodule up in sys.modules once its package has run: registering the new
# modules under the old names makes `import lrfr.train.engine` and `from lrfr.train.cface import X` work.
for _old, _new in MOVED.items():
    sys.modules[f"{__name__}.{_old}"] = importlib.import_module(_new)
    globals()[_old] = sys.modules[f"{__name__}.{_old}"]
