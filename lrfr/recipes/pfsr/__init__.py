"""PFSR's progressive recipe (``kind = "pfsr"``, papers/002).

``config.py`` (the paper's and the released code's values, table in its docstring), ``recipe.py``
(:class:`~lrfr.recipes.pfsr.recipe.PFSRRecipe` on the SR recipe's pieces), ``run.py``.
"""
