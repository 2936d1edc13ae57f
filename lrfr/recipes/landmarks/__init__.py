"""The landmark-heatmap recipe (``kind = "landmarks"``): the prior network PFSR's losses need (papers/002 §3.3).

``config.py``, ``recipe.py`` (:class:`~lrfr.recipes.landmarks.recipe.LandmarkRecipe` and the NME validator), ``run.py``.
"""
