"""``STEM.png``: the same faces at HR, at the study's LR size, bicubic, and through each learned front-end."""
from __future__ import annotations

from pathlib import Path

from lrfr.results.study import Study


def front_end_faces(study: Study, model, lr):
    """``lr`` through a front-end as :meth:`Study.model` names it: ``"bicubic"``, ``packaged:NAME`` or a file."""
    from lrfr import sr as sr_models
    from lrfr.data.resample import upsample
    from lrfr.weights import resolve

    if model == "bicubic":
        return upsample(lr, scale=study.spec.scale)
    return sr_models.load(resolve(model) if isinstance(model, str) else model).super_resolve(lr)


def grid(study: Study, n: int = 6) -> Path:
    """Faces spread evenly over the ``grid`` data root, through the seed-0 model of every file front-end
    of the first section (all labels when the study has no section)."""
    import torch

    from lrfr.data.resample import upsample
    from lrfr.data.degradations import degrade_batch
    from lrfr.data.folders import open_faces
    from lrfr.report import save_sr_grid

    if not study.spec.grid:
        raise ValueError(f"{study.path}: no grid = \"DATA NAME\" to draw faces from")
    scale = study.spec.scale
    faces = open_faces(study.data_root(study.spec.grid))
    step = max(1, len(faces) // n)
    hr = torch.stack([faces[i * step][0] for i in range(n)])
    lr = degrade_batch(hr, scale, "bicubic", key=(0,))
    panels = {"HR": hr, f"LR ×{scale}": lr, "bicubic": upsample(lr, scale=scale)}
    labels = study.spec.section[0].rows if study.spec.section and study.spec.section[0].rows else study.labels
    with torch.no_grad():
        for label in labels:
            fe = next((e for e in study.entries(label) if e.seed == 0), None)
            model = study.model(fe) if fe is not None else None
            if model in (None, "hr", "bicubic") or (isinstance(model, Path) and not model.is_file()):
                continue
            panels[label] = front_end_faces(study, model, lr)
    return save_sr_grid(panels, study.out(".png"), max_rows=n)
