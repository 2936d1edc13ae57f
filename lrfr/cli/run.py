"""``lrfr run PIPELINE.toml``: run a scripted recipe from ``pipelines/``.

The pipeline's top-level ``kind`` picks the recipe. Known now: ``recognizer`` (SphereFace /
A-Softmax training). The SR recipes (srgan, gafh_ridn, pfsr, prior_attention) and C-Face's four
stages join this table as they land.
"""
from __future__ import annotations

KINDS = ["recognizer"]


def register(sub) -> None:
    p = sub.add_parser("run", help="run a training/evaluation recipe (pipelines/*.toml)",
                       description="Run a pipeline TOML. Resumes from <run.out>/checkpoint.pt when it exists.")
    p.add_argument("pipeline", help="path to a pipeline TOML, e.g. pipelines/sphereface.toml")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a config value (TOML syntax), e.g. --set optim.iterations=100 --set run.out='\"runs/x\"'")
    p.add_argument("--restart", action="store_true", help="ignore an existing checkpoint and start from step 0")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(handler=run)


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """``["optim.iterations=100"]`` → sets ``data["optim"]["iterations"] = 100`` (value parsed as TOML)."""
    from lrfr.config import ConfigError, tomllib

    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set expects SECTION.KEY=VALUE; got {item!r}")
        dotted, raw = item.split("=", 1)
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw  # a bare string
        *sections, key = dotted.strip().split(".")
        table = data
        for s in sections:
            table = table.setdefault(s, {})
        table[key] = value
    return data


def run(args) -> int:
    from lrfr.config import ConfigError, from_dict, load_toml

    data = apply_overrides(load_toml(args.pipeline), args.overrides)
    kind = data.get("kind")
    if kind not in KINDS:
        raise ConfigError(f"{args.pipeline}: kind = {kind!r} is not a known recipe; known: {', '.join(KINDS)}")
    if kind == "recognizer":
        from lrfr.train.recognizer_config import RecognizerPipeline

        cfg = from_dict(RecognizerPipeline, data, str(args.pipeline))
        return run_recognizer(cfg, resume=not args.restart, progress=not args.quiet)
    return 1  # pragma: no cover


def run_recognizer(cfg, resume: bool = True, progress: bool = True) -> int:
    import copy
    import json
    from pathlib import Path

    import pandas as pd
    import torch

    from lrfr.io import atomic_write_text
    from lrfr.recognition.weights import save_recognizer
    from lrfr.train.recognizer import train_recognizer
    from lrfr.validation import validator_for

    validate = validator_for(cfg.val, tuple(cfg.model.input_size), progress=progress)
    result = train_recognizer(cfg, validate=validate, resume=resume, progress=progress)
    out = Path(result["out"])
    final = validate(result["model"]) if validate is not None else {}
    m = cfg.model
    meta = {"pipeline": cfg.name, "steps": result["step"], "validation": final,
            "trained_on": f"{cfg.data.source}:{cfg.data.root or 'SynthFaces'}"}
    dtypes = {"float32": torch.float32, "float16": torch.float16}
    if cfg.run.weights_dtype not in dtypes:
        raise ValueError(f"run.weights_dtype must be one of {', '.join(dtypes)}; got {cfg.run.weights_dtype!r}")
    export = copy.deepcopy(result["model"]).to(device="cpu", dtype=dtypes[cfg.run.weights_dtype])
    meta["weights_dtype"] = cfg.run.weights_dtype
    weights = save_recognizer(export, out / "recognizer.pt", arch=m.arch,
                              kwargs={"width": m.width, "embedding_dim": m.embedding_dim, "input_size": list(m.input_size)},
                              meta=meta)
    history = pd.DataFrame(result["history"])
    atomic_write_text(out / "history.csv", history.to_csv(index=False))
    atomic_write_text(out / "final.json", json.dumps(meta, indent=2) + "\n")
    _plot_history(history, out / "training.png")
    if final:
        print(pd.DataFrame([final]).to_string(index=False, float_format="{:.4f}".format))
    print(f"wrote {weights}, {out / 'history.csv'}, {out / 'training.png'}")
    return 0


def _plot_history(history, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if history.empty or "loss" not in history:
        return
    fig, ax = plt.subplots(figsize=(6, 3.5))
    h = history.dropna(subset=["loss"])
    ax.plot(h["step"], h["loss"], label="A-Softmax loss")
    ax.set_xlabel("iteration"), ax.set_ylabel("loss")
    acc_cols = [c for c in history.columns if c.startswith("acc")]
    if acc_cols:
        ax2 = ax.twinx()
        for c in acc_cols:
            v = history.dropna(subset=[c])
            ax2.plot(v["step"], v[c], "o--", label=c)
        ax2.set_ylabel("validation accuracy"), ax2.legend(loc="center right", fontsize=8)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
