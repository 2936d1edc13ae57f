"""The one training engine: it runs every recipe and knows no paper.

- :mod:`~lrfr.engine.loop` — :func:`~lrfr.engine.loop.train` (steps, progress, history, validation hook,
  checkpoints, exact resume, the NaN guard) and the :class:`~lrfr.engine.loop.Recipe` interface;
- :mod:`~lrfr.engine.checkpoint` — atomic, format-tagged checkpoint files and RNG state;
- :mod:`~lrfr.engine.precision` — fp32 / bf16 / fp16 autocast and loss scaling;
- :mod:`~lrfr.engine.distributed` — torchrun: ranks, gradient averaging, global BatchNorm;
- :mod:`~lrfr.engine.batches` — the ``(seed, step)`` batches every recipe draws;
- :mod:`~lrfr.engine.optim` — optimizers and step schedules by name;
- :mod:`~lrfr.engine.sections` — the config sections every recipe shares (data, val, augment, optim, run), bounded;
- :mod:`~lrfr.engine.training_set` — the faces a ``[data]`` section names, decoded once;
- :mod:`~lrfr.engine.outputs`, :mod:`~lrfr.engine.figures` — what every finished run writes.

Recipes live in :mod:`lrfr.recipes`; nothing here imports them.
"""
