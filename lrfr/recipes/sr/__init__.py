"""The SR recipe (``kind = "sr"``): SRResNet, SRGAN, GAFH-RIDN and prior-guided attention SR.

``config.py`` (SRGAN's defaults), ``recipe.py`` (:class:`~lrfr.recipes.sr.recipe.SRRecipe`: one G/D
iteration), ``prior_terms.py`` (papers/003's coarse and parsing-prior terms), ``run.py`` (``lrfr run``'s runner).
C-Face's GAN stages and PFSR build on :class:`~lrfr.recipes.sr.recipe.SRRecipe`.
"""
