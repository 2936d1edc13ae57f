"""``lrfr run`` for ``kind = "distill"``: validation on held-out faces, the training, the student's model file.

Writes ``student.pt`` (a recognizer model file, ``run.weights_dtype``; ``lrfr.recognition.load`` reads it,
``lrfr evaluate --probe-weights`` scores it), ``history.csv``, ``training.png`` and ``final.json``.
"""
from __future__ import annotations

from pathlib import Path

from lrfr.engine.outputs import export_copy, provenance, unfinished, write_run_outputs


def run_distill(cfg, *, resume: bool = True, progress: bool = True, allow_changed: tuple[str, ...] = (),
                stop_after: int | None = None) -> dict:
    from lrfr.devices import resolve_device
    from lrfr.data.degradations import parse_mix
    from lrfr.recipes.distill.recipe import build_front_end, check_lr_sizes, train_distill
    from lrfr.recognition import frozen_recognizer
    from lrfr.recognition.weights import recognizer_identity, save_recognizer
    from lrfr.validation import probe_validator_for
    from lrfr.weights import DEFAULT_RECOGNIZER, resolve

    check_lr_sizes(cfg)  # settings errors before minutes of loading faces and the teacher
    parse_mix(cfg.data.mix, cfg.data.degrade)
    device = resolve_device(cfg.run.device)
    validate = None
    if cfg.val.source != "none":
        teacher = frozen_recognizer(cfg.teacher.weights, device, cfg.teacher.arch or None)
        front_end, learned = build_front_end(cfg, device)
        if not learned and cfg.val.scale != front_end.scale:
            from lrfr import sr

            front_end = sr.build("bicubic", scale=cfg.val.scale)
        validate = probe_validator_for(cfg.val, tuple(cfg.data.hr_size), front_end.scale, cfg.data.degrade, teacher,
                                       front_end, progress=progress)
    result = train_distill(cfg, validate, resume=resume, progress=progress, stop_after=stop_after,
                           allow_changed=allow_changed)
    out = Path(result["out"])
    if (early := unfinished(out, result["step"], cfg.optim.iterations)) is not None:
        return early
    student = result["recipe"].eval_model()
    final = dict(validate(student)) if validate is not None else {}
    teacher_file = resolve(cfg.teacher.weights, DEFAULT_RECOGNIZER)
    meta = {**provenance(cfg, result["step"], final), "weights_dtype": cfg.run.weights_dtype,
            "teacher": recognizer_identity(teacher_file, cfg.teacher.arch or None),
            "front_end": cfg.front_end.model, "scales": list(cfg.data.scales), "degrade": cfg.data.degrade,
            "lr_long_side": list(cfg.data.lr_long_side), "degradation_mix": dict(cfg.data.mix),
            "also_trained_on": list(cfg.data.also)}
    export = export_copy(student, cfg.run.weights_dtype)
    files = [save_recognizer(export, out / "student.pt", meta=meta)]
    files += write_run_outputs(out, result["history"], meta, f"{cfg.name}: {student.arch} student")
    return {"out": out, "step": result["step"], "final": final, "files": files}
