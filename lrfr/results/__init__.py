"""Results tables over front-ends × recognizers × seeds, for the papers' systems or a user's own.

A study file (``STUDY.toml``, :mod:`lrfr.results.study`) names the front-ends (one entry per seed), the
recognizers that score and the protocols; ``lrfr results`` runs it:

    lrfr results split STUDY.toml      # the identity split the training runs use (lrfr.results.split)
    lrfr results export STUDY.toml     # finished runs → model files, histories, training.json (lrfr.results.export)
    lrfr results evaluate STUDY.toml   # every row, resumable (lrfr.results.scoring)
    lrfr results table STUDY.toml      # STEM.csv and STEM.md (lrfr.results.tables)
    lrfr results grid STUDY.toml       # STEM.png (lrfr.results.figures)

``results/real-8x.toml`` is the real-face table of this repository.
"""
