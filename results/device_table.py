"""The real-face table's training runs × seeds on one lent GPU, in one call (issue 30's GPU path).

Every run is its ``pipelines/*_celeba.toml`` unchanged but for ``run.seed`` and ``run.out`` (the same budgets as
the CPU table: the GPU path buys seeds and rows per minute, not longer runs; add ``--set`` overrides in ``JOBS``
to change that). Three steps:

    python results/device_table.py pack          # here: .carry/table/ (the split's faces as files, the scorer,
                                                 # C-Face's compare-face table, PFSR's landmark network)
    # the device call (64 MiB for the tree and .carry together: drop results/ from the index for the call,
    # as docs/bench/device.sh says, and put it back after):
    #   git rm -r -q --cached results docs/training docs/synthfaces.png
    #   printf '/results/\n/docs/training/\n/docs/synthfaces.png\n' >> .git/info/exclude
    #   run: python3 results/device_table.py train --deadline 500     (carry [".carry"])
    #   git reset -q   (and take the three lines out of .git/info/exclude)
    python results/device_table.py unpack FILES_AT   # → runs/gpu/<label>_s<seed>/ (model files, histories)

``train`` runs ``--parallel`` jobs side by side, in ``JOBS`` order (a job that continues another waits for it), and
stops what is still running at ``--deadline`` seconds; it packs every finished run's model files, history and
config into at most 8 tar files under ``$OUT`` (the device returns 8 files of ≤ 16 MiB) with ``jobs.json`` (per
job: finished or not, seconds, exit code, log tail). Checkpoints are not brought back (38 MB each): a job the
deadline stopped is trained again by the next call. ``train --tiny --device cpu`` runs the same on this machine in
a few minutes (2 steps a stage), which is how the script is tested without a GPU.

Then score them like any run: a study file whose entries name ``run = "../runs/gpu/srgan_s1"`` etc., and
``lrfr results export`` / ``evaluate`` (``results/real-8x.toml`` is the example).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CARRY = REPO / ".carry" / "table"
SHARED_WEIGHTS = "weights/mobilefacenet_casia_068.ckpt"
SEEDS = (0, 1, 2)

#: label → (pipeline, extra --set overrides, the label whose run of the same seed it continues, files it writes)
JOBS = {
    "srgan": ("pipelines/srgan_celeba.toml", [], None, ["generator.pt"]),
    "cface": ("pipelines/cface_celeba.toml", [], None, ["cface_v1.pt", "cface_v2.pt", "cface_v2_cnn_r.pt"]),
    "srresnet": ("pipelines/srresnet_celeba.toml", [], None, ["generator.pt"]),
    "gafh_ridn": ("pipelines/gafh_ridn_celeba.toml", [], None, ["generator.pt"]),
    "prior_attention": ("pipelines/prior_attention_celeba.toml", [], None, ["generator.pt"]),
    "pfsr": ("pipelines/pfsr_celeba.toml", ['loss.landmark_weights="{carry}/landmarks_celeba.pt"'], None,
             ["generator.pt"]),
    # method 2 continues the same seed's method 1 (the committed table continues the committed method-1 file)
    "prior_attention_gan": ("pipelines/prior_attention_gan_celeba.toml",
                            ['model.init="runs/gpu/prior_attention_s{seed}/generator.pt"'], "prior_attention",
                            ["generator.pt"]),
}
#: the small-size overrides of ``--tiny`` (every iteration key the celeba pipelines have)
TINY = {
    "cface": ["stage1.iterations=2", "stage3.iterations=2", "stage4.iterations=2", "val.every=1"],
    "pfsr": ["progressive.step_iterations=[2, 2, 2]", "optim.iterations=6", "val.every=1"],
    "*": ["optim.iterations=2", "val.every=1"],
}
MAX_FILES, MAX_BYTES = 8, 15 * 2**20


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def pack(args) -> None:
    """``.carry/table/``: real copies (links do not travel) of what the runs read outside the repository."""
    from lrfr.results.study import shared_folder

    shared = shared_folder(REPO)
    split = REPO / "runs" / "celeba-split"
    for half in ("train", "heldout"):
        if not (split / half).is_dir():
            raise FileNotFoundError(f"{split / half} is not there: run `lrfr results split results/real-8x.toml` first")
    if CARRY.exists():
        shutil.rmtree(CARRY)
    for half in ("train", "heldout"):  # copytree follows the split's links to the identity folders
        shutil.copytree(split / half, CARRY / "celeba-split" / half, symlinks=False)
    (CARRY / "shared" / "weights").mkdir(parents=True)
    shutil.copy2(shared / SHARED_WEIGHTS, CARRY / "shared" / SHARED_WEIGHTS)
    shutil.copy2(REPO / "results" / "weights" / "landmarks_celeba.pt", CARRY / "landmarks_celeba.pt")
    compare = Path(args.compare_faces)
    if not compare.is_file():
        raise FileNotFoundError(f"{compare}: C-Face's compare-face table (a finished cface_celeba run's "
                                "compare_faces.npz; `lrfr mine` writes one) — the device has no faiss to mine it")
    shutil.copy2(compare, CARRY / "compare_faces.npz")
    tracked = sum((REPO / f).stat().st_size for f in subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split("\0")
        if f and not f.startswith(("results/", "docs/training/", "docs/synthfaces.png")) and (REPO / f).is_file())
    carried = _size(CARRY)
    print(f"wrote {CARRY}: {carried / 2**20:.1f} MiB; the tracked tree without results/ etc.: "
          f"{tracked / 2**20:.1f} MiB; together {(carried + tracked) / 2**20:.1f} MiB of the 64 MiB a call carries")


def _job_list(only: list[str] | None, seeds: list[int]) -> list[tuple[str, int]]:
    labels = only or list(JOBS)
    unknown = [x for x in labels if x not in JOBS]
    if unknown:
        raise KeyError(f"--only: {', '.join(unknown)} (known: {', '.join(JOBS)})")
    return [(label, seed) for seed in seeds for label in labels]


def _command(label: str, seed: int, tiny: bool, device: str) -> list[str]:
    pipeline, sets, _, _ = JOBS[label]
    overrides = [s.format(seed=seed, carry=CARRY) for s in sets]
    overrides += [f'run.seed={seed}', f'run.out="runs/gpu/{label}_s{seed}"', f'run.device="{device}"',
                  f'data.root="{CARRY}/celeba-split/train"', f'val.root="{CARRY}/celeba-split/heldout"']
    if tiny:
        overrides += TINY.get(label, TINY["*"]) + ["run.checkpoint_every=1", "run.log_every=1"]
    cmd = [sys.executable, "-m", "lrfr", "run", pipeline]
    for o in overrides:
        cmd += ["--set", o]
    return cmd


def _link_shared() -> None:
    """The pipelines read ``../shared/weights/...``: on the device that is the carried copy."""
    target = REPO.parent / "shared"
    if target.exists():
        return
    try:
        target.symlink_to(CARRY / "shared", target_is_directory=True)
    except OSError as err:
        raise OSError(f"cannot link {target} to {CARRY / 'shared'} ({err}); the pipelines read ../shared") from err


def train(args) -> None:
    """Run the jobs side by side until done or the deadline; pack what finished into ``$OUT``."""
    start = time.monotonic()
    out = Path(os.environ.get("OUT") or REPO / "runs" / "device-table")
    out.mkdir(parents=True, exist_ok=True)
    if not (CARRY / "celeba-split" / "train").is_dir():
        raise FileNotFoundError(f"{CARRY} is not there: `python results/device_table.py pack` here, carry .carry")
    _link_shared()
    logs = REPO / "runs" / "gpu" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    pending = _job_list(args.only, args.seeds)
    running: dict[tuple[str, int], tuple[subprocess.Popen, float]] = {}
    report: dict[str, dict] = {}
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)

    def finished(label, seed) -> bool:
        return report.get(f"{label}_s{seed}", {}).get("exit_code") == 0

    while pending or running:
        for key, (proc, t0) in list(running.items()):
            if proc.poll() is not None:
                name = f"{key[0]}_s{key[1]}"
                tail = (logs / f"{name}.log").read_text(errors="replace")[-600:]
                report[name] = {"exit_code": proc.returncode, "seconds": round(time.monotonic() - t0, 1),
                                "log_tail": tail}
                print(f"{name}: exit {proc.returncode} after {report[name]['seconds']} s", flush=True)
                del running[key]
        if time.monotonic() - start > args.deadline:
            for key, (proc, t0) in running.items():
                proc.terminate()
                report[f"{key[0]}_s{key[1]}"] = {"exit_code": None, "seconds": round(time.monotonic() - t0, 1),
                                                 "stopped": f"at the {args.deadline} s deadline"}
            for label, seed in pending:
                report[f"{label}_s{seed}"] = {"exit_code": None, "stopped": "not started before the deadline"}
            for proc, _ in running.values():
                proc.wait(timeout=30)
            break
        for label, seed in list(pending):
            if len(running) >= args.parallel:
                break
            after = JOBS[label][2]
            if after and (after, seed) in pending + list(running):
                continue  # waits for the run it continues
            if after and not finished(after, seed):
                report[f"{label}_s{seed}"] = {"exit_code": None, "stopped": f"{after}_s{seed} did not finish"}
                pending.remove((label, seed))
                continue
            pending.remove((label, seed))
            run_dir = REPO / "runs" / "gpu" / f"{label}_s{seed}"
            if label == "cface":
                run_dir.mkdir(parents=True, exist_ok=True)
                shutil.copy2(CARRY / "compare_faces.npz", run_dir / "compare_faces.npz")
            log = open(logs / f"{label}_s{seed}.log", "w")
            running[(label, seed)] = (subprocess.Popen(_command(label, seed, args.tiny, args.device), cwd=REPO,
                                                       stdout=log, stderr=subprocess.STDOUT, env=env),
                                      time.monotonic())
            print(f"{label}_s{seed}: started", flush=True)
        time.sleep(1)
    _pack_runs(report, out)
    print(f"{sum(r.get('exit_code') == 0 for r in report.values())} of {len(report)} runs finished in "
          f"{time.monotonic() - start:.0f} s; wrote {out}")


def _pack_runs(report: dict, out: Path) -> None:
    """Finished runs' model files, histories, configs and final.json into ≤ 8 tar files of ≤ 15 MiB."""
    members = []
    for name, r in report.items():
        if r.get("exit_code") != 0:
            continue
        label = name.rsplit("_s", 1)[0]
        run = REPO / "runs" / "gpu" / name
        wanted = [run / f for f in JOBS[label][3]] + sorted(run.rglob("history.csv")) + sorted(run.rglob("config.toml"))
        wanted += [run / "final.json"] + sorted(run.glob("stage*/final.json"))
        members += [p for p in wanted if p.is_file()]
    bins: list[list[Path]] = []
    sizes: list[int] = []
    for p in sorted(members, key=lambda p: -p.stat().st_size):  # first fit, largest first
        size = p.stat().st_size
        k = next((i for i, s in enumerate(sizes) if s + size <= MAX_BYTES), None)
        if k is None:
            bins.append([])
            sizes.append(0)
            k = len(bins) - 1
        bins[k].append(p)
        sizes[k] += size
    if len(bins) > MAX_FILES - 1:  # (one file is jobs.json)
        dropped = [str(p.relative_to(REPO)) for b in bins[MAX_FILES - 1:] for p in b]
        report["_not_returned"] = {"files": dropped, "why": "over the 8 files a device call returns"}
        bins = bins[: MAX_FILES - 1]
    for i, files in enumerate(bins):
        with tarfile.open(out / f"runs-{i}.tar", "w") as tar:
            for p in files:
                tar.add(p, arcname=str(p.relative_to(REPO / "runs" / "gpu")))
    (out / "jobs.json").write_text(json.dumps(report, indent=2) + "\n")


def unpack(args) -> None:
    """The returned tar files → ``runs/gpu/``; prints which runs came back finished."""
    source = Path(args.folder)
    tars = sorted(source.glob("runs-*.tar"))
    if not tars:
        raise FileNotFoundError(f"{source}: no runs-*.tar (the files a device call of `train` returns)")
    target = REPO / "runs" / "gpu"
    for t in tars:
        with tarfile.open(t) as tar:
            tar.extractall(target, filter="data")
    report = json.loads((source / "jobs.json").read_text()) if (source / "jobs.json").is_file() else {}
    for name, r in sorted(report.items()):
        print(f"{name}: {'finished' if r.get('exit_code') == 0 else r.get('stopped') or r.get('exit_code')}")
    print(f"unpacked {len(tars)} file(s) into {target}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    pk = sub.add_parser("pack", help="here: what the device call carries, into .carry/table/")
    pk.add_argument("--compare-faces", default=str(REPO / "runs" / "cface_celeba" / "compare_faces.npz"),
                    help="C-Face's compare-face table (a finished cface_celeba run's, or `lrfr mine`'s)")
    tr = sub.add_parser("train", help="on the device: the runs side by side, packed into $OUT")
    tr.add_argument("--only", nargs="+", metavar="LABEL", help=f"these rows only (default: all: {', '.join(JOBS)})")
    tr.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    tr.add_argument("--parallel", type=int, default=6, help="runs side by side (default 6)")
    tr.add_argument("--deadline", type=float, default=500, help="seconds before what still runs is stopped")
    tr.add_argument("--device", default="cuda", help="run.device of every run (cpu for --tiny here)")
    tr.add_argument("--threads", type=int, default=2, help="CPU threads per run (OMP_NUM_THREADS; 0: torch's)")
    tr.add_argument("--tiny", action="store_true", help="2 steps a stage: a test of the script, not a result")
    up = sub.add_parser("unpack", help="here: the returned tar files into runs/gpu/")
    up.add_argument("folder", help="the device call's files_at folder")
    args = p.parse_args()
    from lrfr.cli import run_script

    run_script(f"device_table {args.command}", {"pack": pack, "train": train, "unpack": unpack}[args.command], args)


if __name__ == "__main__":
    main()
