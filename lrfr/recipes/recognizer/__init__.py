"""The recognizer recipe (``kind = "recognizer"``): SphereFace's A-Softmax training of any registered recognizer.

``config.py`` (the paper's defaults), ``recipe.py`` (:class:`~lrfr.recipes.recognizer.recipe.RecognizerRecipe`),
``run.py`` (``lrfr run``'s runner).
"""
