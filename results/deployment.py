"""The deployment figures (issue 39): LFW watchlists searched with 14x12 probes through each preset, and
open-set thresholds checked on identities their calibration never saw.

    python results/deployment.py              # about 10 minutes on 2 CPU cores; writes results/deployment.{json,md}

Every step is an ``lrfr`` command (run here through ``lrfr.cli.main``, so what docs/deployment.md shows is what
ran), on folders under ``runs/deploy/`` (made here, never committed):

1. ``lrfr watchlist make`` on LFW (``../shared/data/lfw/lfw-112x96``): ``lfw-watchlist`` (seed 0: 200 enrolled
   identities, one photo each, 311 probes of them, one probe each of 200 people not enrolled), ``lfw-check``
   (seed 1, none of lfw-watchlist's identities: 200 enrolled, 2 probes of each of 400 others), ``lfw-calib``
   (seed 2, none of lfw-check's identities: 1,000 enrolled, 1,000 others); on the 41 held-out CelebA identities
   (``runs/celeba-split/heldout``; ``lrfr results split results/real-8x.toml``): ``celeba-check`` (20 enrolled,
   up to 30 probes of each of the 21 others);
2. ``lrfr degrade PROBES-HR PROBES --scale 8``: every probe 14x12 (antialiased bicubic), PNG;
3. ``lrfr index build`` / ``lrfr index search --preset P`` on lfw-watchlist for every preset: rank-1/5 of the
   known probes (and, by ``lrfr.evaluate(protocol="watchlist")``, DIR at FPIR 1% / 10%);
4. ``lrfr calibrate --open-set`` (presets camera and lr14x12) on lfw-calib for galleries of 200 and 20 identities at FPIR 1% and 10%, checked
   by ``lrfr index search --calibration`` on lfw-check (200 identities) and celeba-check (20); beside it the
   per-pair FAR thresholds of ``lrfr calibrate --protocol lfw --setting cross`` (1e-2, 1e-3), searched the same way.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "runs" / "deploy"
OUT_JSON, OUT_MD = REPO / "results" / "deployment.json", REPO / "results" / "deployment.md"
PRESETS_SHOWN = ("bicubic", "srgan", "lr14x12", "camera")
OPEN_SET_PRESETS = ("camera", "lr14x12")  # the probe pipelines whose open-set thresholds are checked
FAR_PRESET = "lr14x12"
FPIRS = (0.01, 0.1)
DOCS = REPO / "docs" / "deployment.md"
BEGIN = "<!-- deployment figures: written by `python results/deployment.py`; do not edit -->"
END = "<!-- deployment figures end -->"


def lrfr_cmd(*argv: str) -> None:
    from lrfr.cli import main

    print("$ lrfr " + " ".join(argv), flush=True)
    code = main([*argv, "--quiet"] if argv[0] in ("degrade", "calibrate") or argv[:2] in (("index", "build"), ("index", "search")) else list(argv))
    if code != 0:
        raise SystemExit(f"lrfr {' '.join(argv)} failed (exit {code})")


def prepare(shared: Path) -> None:
    lfw = str(shared / "data" / "lfw" / "lfw-112x96")
    heldout = REPO / "runs" / "celeba-split" / "heldout"
    if not heldout.is_dir():
        raise SystemExit(f"{heldout} missing: run lrfr results split results/real-8x.toml first")
    sets = [("lfw-watchlist", lfw, ["--enrolled", "200", "--unknown", "200", "--seed", "0"]),
            ("lfw-check", lfw, ["--enrolled", "200", "--unknown", "400", "--unknown-per-identity", "2",
                                "--exclude-identities-of", str(WORK / "lfw-watchlist"), "--seed", "1"]),
            ("lfw-calib", lfw, ["--enrolled", "1000", "--unknown", "1000", "--probes-per-identity", "1",
                                "--exclude-identities-of", str(WORK / "lfw-check"), "--seed", "2"]),
            ("celeba-check", str(heldout), ["--enrolled", "20", "--unknown", "21", "--unknown-per-identity", "30",
                                            "--seed", "0"])]
    for name, data, extra in sets:
        lrfr_cmd("watchlist", "make", "--data", data, "--out", str(WORK / name), "--overwrite", *extra)
        lrfr_cmd("degrade", str(WORK / name / "probes-hr"), str(WORK / name / "probes"), "--scale", "8", "--overwrite")


def search(index: Path, probes: Path, preset: str, *extra: str) -> dict:
    out = WORK / f"search-{index.stem}-{preset}.json"
    lrfr_cmd("index", "search", "--index", str(index), "--images", str(probes), "--preset", preset, "--rows", "0",
             "--json", str(out), *extra)
    return json.loads(out.read_text())["summary"]


def presets_table() -> list[dict]:
    import lrfr
    from lrfr.presets import PRESETS

    rows = []
    for preset in (p for p in PRESETS_SHOWN if p in PRESETS):
        index = WORK / f"lfw-{preset}.lrfr"
        lrfr_cmd("index", "build", "--data", str(WORK / "lfw-watchlist" / "enrol"), "--preset", preset, "--out", str(index))
        s = search(index, WORK / "lfw-watchlist" / "probes", preset)
        pipe = PRESETS[preset].pipeline
        proto = lrfr.evaluate(pipe.get("front_end", "bicubic"), protocol="watchlist", data=WORK / "lfw-watchlist",
                              weights=pipe["weights"], probe_weights=pipe.get("probe_weights"), progress=False).iloc[0]
        rows.append({"preset": preset, "rank1": s["rank1"], "rank5": s["rank5"], "rank10": float(proto["rank10"]),
                     **{f"dir@fpir={f:g}": float(proto[f"dir@fpir={f:g}"]) for f in FPIRS},
                     "known_probes": s["known_probes"], "unknown_probes": s["unknown_probes"]})
    return rows


def open_set_table() -> list[dict]:
    rows = []
    checks = {200: "lfw-check", 20: "celeba-check"}
    for preset in OPEN_SET_PRESETS:
        indexes = {}
        for n, folder in checks.items():
            indexes[n] = WORK / f"{folder}-{preset}.lrfr"
            lrfr_cmd("index", "build", "--data", str(WORK / folder / "enrol"), "--preset", preset, "--out",
                     str(indexes[n]))
            cal = WORK / f"openset-{preset}-{n}.json"
            lrfr_cmd("calibrate", "--open-set", "--enrol", str(WORK / "lfw-calib" / "enrol"), "--probes",
                     str(WORK / "lfw-calib" / "probes"), "--preset", preset, "--gallery-size", str(n), "--fpir",
                     *[str(f) for f in FPIRS], "--out", str(cal))
            for f in FPIRS:
                s = search(indexes[n], WORK / folder / "probes", preset, "--calibration", str(cal), "--fpir", str(f))
                rows.append(_check_row(preset, f"FPIR {f:g} (lrfr calibrate --open-set)", folder, n, s))
        if preset == FAR_PRESET:  # the per-pair verification thresholds, for contrast: one preset is enough
            rows += per_pair_far_rows(preset, indexes, checks)
    return rows


def per_pair_far_rows(preset: str, indexes: dict, checks: dict) -> list[dict]:
    from lrfr.presets import PRESETS

    pipe = PRESETS[preset].pipeline
    far = WORK / f"far-{preset}.json"
    lrfr_cmd("calibrate", "--protocol", "lfw", "--data", str(shared_folder() / "data" / "lfw"), "--setting", "cross",
             "--sr", "bicubic", "--scale", "8", "--weights", pipe["weights"], "--probe-weights",
             pipe["probe_weights"], "--far", "1e-2", "1e-3", "--out", str(far))
    rows = []
    for point in json.loads(far.read_text())["points"]:
        for n, folder in checks.items():
            s = search(indexes[n], WORK / folder / "probes", preset, "--threshold", str(point["threshold"]))
            rows.append(_check_row(preset, f"per-pair FAR {point['far']:g} (lrfr calibrate, LFW pairs)", folder, n, s))
    return rows


def _check_row(preset: str, threshold: str, folder: str, n: int, summary: dict) -> dict:
    return {"preset": preset, "threshold": threshold, "check": folder, "identities": n, "value": summary["threshold"],
            "measured_fpir": summary["fpir"], "unknown_probes": summary["unknown_probes"], "dir": summary["dir"],
            "known_probes": summary["known_probes"]}


def shared_folder() -> Path:
    from lrfr.results.study import shared_folder as find

    return find(REPO)


def interval(p: float, n: int) -> tuple[float, float]:
    """The exact (Clopper–Pearson) 95% interval of a measured rate, as lrfr calibrate states its FARs."""
    from lrfr.metrics.thresholds import clopper_pearson

    return clopper_pearson(round(p * n), n)


def markdown(doc: dict) -> str:
    lines = ["# Deployment figures (issue 39)", "",
             "Made by `python results/deployment.py` (every step an `lrfr` command; see its docstring). Probes are "
             "14x12 PNG files written by `lrfr degrade --scale 8`; enrolment photos 112x96.", "",
             "## The presets on the LFW watchlist", "",
             f"{doc['presets'][0]['known_probes']} probes of the 200 enrolled identities, "
             f"{doc['presets'][0]['unknown_probes']} of people not enrolled. DIR at FPIR: the threshold set on the "
             "unknown probes' own top scores (`lrfr.evaluate(protocol=\"watchlist\")`).", "",
             "| preset | rank-1 | rank-5 | rank-10 | DIR @ FPIR 1% | DIR @ FPIR 10% |", "| --- | --- | --- | --- | --- | --- |"]
    for r in doc["presets"]:
        lines.append(f"| `{r['preset']}` | {100 * r['rank1']:.1f}% | {100 * r['rank5']:.1f}% | {100 * r['rank10']:.1f}% | "
                     f"{100 * r['dir@fpir=0.01']:.1f}% | {100 * r['dir@fpir=0.1']:.1f}% |")
    lines += ["", "## Open-set thresholds on identities the calibration never saw", "",
              "Calibrated on `lfw-calib` (1,000 enrolled LFW identities, 2,000 probes; none of the checks' people) for "
              "the gallery size of each check; measured FPIR = the share of the check's unknown probes accepted "
              "(exact 95% interval). The per-pair FAR thresholds are the verification calibration of LFW's pairs.", "",
              "| preset | threshold | check (gallery) | value | measured FPIR (95% CI) | unknown probes | DIR |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in doc["open_set"]:
        lo, hi = interval(r["measured_fpir"], r["unknown_probes"])
        lines.append(f"| `{r['preset']}` | {r['threshold']} | {r['check']} ({r['identities']} identities) | {r['value']:.4f} | "
                     f"{100 * r['measured_fpir']:.1f}% ({100 * lo:.1f}–{100 * hi:.1f}) | {r['unknown_probes']} | "
                     f"{100 * r['dir']:.1f}% |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--skip-prepare", action="store_true", help="reuse the folders under runs/deploy")
    args = p.parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    if not args.skip_prepare:
        prepare(shared_folder())
    doc = {"presets": presets_table(), "open_set": open_set_table()}
    OUT_JSON.write_text(json.dumps(doc, indent=2) + "\n")
    page = markdown(doc)
    OUT_MD.write_text(page)
    from lrfr.io import replace_between

    body = page.split("\n", 2)[2]  # without the page's own title
    replace_between(DOCS, BEGIN, END, "\n" + body.replace("## ", "### "))
    print(f"wrote {OUT_JSON}, {OUT_MD} and the figures of {DOCS}")


if __name__ == "__main__":
    from lrfr.cli import run_script

    run_script("deployment.py", lambda a: main(a), sys.argv[1:])
