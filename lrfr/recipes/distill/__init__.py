"""Low-resolution embedding distillation (``kind = "distill"``): a student recognizer learns, from faces
degraded and passed through a frozen front-end, the embedding a frozen teacher gives the same faces at HR.

``config.py`` (every value, lrfr's), ``recipe.py`` (:class:`~lrfr.recipes.distill.recipe.DistillRecipe`),
``run.py`` (``lrfr run``'s runner: the student's model file). The student is scored beside a front-end by
``lrfr evaluate --probe-weights``.
"""
