"""C-Face (``kind = "cface"``, papers/004): the compare-face loss and the four stages of Algorithm 1.

Read in this order:

- ``config.py`` — every value, the paper's (§4.2, Algorithm 1, Tables 6–7) and lrfr's, and the ablations;
- ``algorithm.py`` — :class:`~lrfr.recipes.cface.algorithm.CFaceTrainer`: Algorithm 1, stage by stage,
  each on the engine in its own folder;
- ``stages.py`` — stages 1/4 (eq. 7 on triplets, stage 4's L_FR step, eq. 3), stage 2 (D^SR), stage 3's D^HR ∪ D^SR;
- ``triplets.py`` — the (I_o, I_c) triplets and the cached HR features of the frozen CNN^R;
- ``report.py`` and ``run.py`` — the stage-loss figure, the results table, ``lrfr run``'s runner.

The loss itself (eqs. 4–6) is :class:`lrfr.losses.cface.CFaceLoss`; the compare-face miner
:class:`lrfr.index.miner.CompareFaceMiner`.
"""
