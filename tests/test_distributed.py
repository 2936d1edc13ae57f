"""Data parallelism through torchrun on the CPU (gloo): two processes train what one process trains.

The runs are the tiny pipelines of test_train_faults' recipe table (every recipe), launched exactly as a
user would (``torchrun --nproc-per-node 2 -m lrfr run FILE``). Each step's global batch is the same at any
world size and gradients are averaged over ranks, so the weights after a few steps match the
single-process run up to floating-point summation order (tolerance below); BatchNorm layers (the
SRGAN generator and discriminator) normalize over the global batch. A 2-process checkpoint resumes
in one process.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lrfr.recipes import run_pipeline
from lrfr.engine.checkpoint import load_checkpoint
from test_train_faults import RECIPES, faces, recognizer_pipeline, srgan_pipeline, write_pipeline  # noqa: F401


#: summation order differs between one process and two (gradients are summed across ranks)
ATOL, RTOL = 1e-4, 1e-3


def torchrun(pipeline: Path, *extra: str) -> subprocess.CompletedProcess:
    exe = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    cmd = [exe, "--standalone", "--nproc-per-node", "2", "-m", "lrfr", "run", str(pipeline), "--quiet", *extra]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def weights(out: Path) -> dict[str, torch.Tensor]:
    parts = load_checkpoint(out / "checkpoint.pt")["parts"]
    return {f"{p}.{k}": v for p in parts if p in ("model", "head", "generator", "discriminator", "student")
            for k, v in parts[p].items() if torch.is_tensor(v) and v.is_floating_point()}


def assert_close_weights(a: Path, b: Path) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], atol=ATOL, rtol=RTOL, msg=lambda m, k=k: f"{k}: {m}")


#: recipes whose step uses statistics over the whole batch (PFSR's critic: the minibatch standard deviation)
#: see each rank's rows under torchrun, so 2 processes train something else than 1: for them only the run and
#: its resume are checked, not equality with the one-process run
BATCH_STATISTICS = {"pfsr"}

def _for_two_processes(name: str, data: dict) -> dict:
    data = __import__("copy").deepcopy(data)
    if name == "srgan":  # per-sample losses, so that the global-batch gradient is exactly the mean
        data["loss"]["adversarial"] = "vanilla"
        data["model"]["kwargs"]["batch_norm"] = True  # exercise the global BatchNorm in G as well as in D
    if name not in BATCH_STATISTICS:  # (PFSR's progressive steps are fixed to its 6 iterations)
        data["optim"]["iterations"] = 4
    data["run"]["checkpoint_every"] = 2
    return data


@pytest.mark.slow
@pytest.mark.parametrize("name,make", RECIPES, ids=[r[0] for r in RECIPES])
def test_every_recipe_trains_in_two_processes_what_it_trains_in_one_and_resumes_in_one(name, make, faces, tmp_path):  # noqa: F811
    """Every line of test_train_faults' recipe table as a 2-process job, launched as a user launches it
    (``torchrun --nproc-per-node 2 -m lrfr run FILE``): the same weights as the one-process run (to summation
    order), written once (rank 0), and the 2-process checkpoint continues in one process."""
    data = _for_two_processes(name, make(faces, tmp_path / "one"))
    single = write_pipeline(tmp_path / "one.toml", data)
    run_pipeline(single, progress=False)
    data["run"]["out"] = str(tmp_path / "two")
    double = write_pipeline(tmp_path / "two.toml", data)
    done = torchrun(double)
    one, two = tmp_path / "one", tmp_path / "two"
    if name in BATCH_STATISTICS:  # the 2-process checkpoint loads and is complete in one process
        assert load_checkpoint(two / "checkpoint.pt")["step"] == 6
        assert run_pipeline(double, progress=False)["step"] == 6
        return
    assert done.stdout.count("step 4; wrote") == 1  # rank 0 alone reports and writes
    assert load_checkpoint(two / "checkpoint.pt")["step"] == 4
    assert_close_weights(one, two)
    run_pipeline(double, ["optim.iterations=6"], progress=False)
    run_pipeline(single, ["optim.iterations=6"], progress=False)
    assert load_checkpoint(two / "checkpoint.pt")["step"] == 6
    assert_close_weights(one, two)


def test_each_rank_takes_its_rows_and_an_uneven_batch_is_refused(monkeypatch):
    from lrfr.engine import distributed

    monkeypatch.setattr(distributed, "world_size", lambda: 4)
    rows = []
    for r in range(4):
        monkeypatch.setattr(distributed, "rank", lambda r=r: r)
        rows.append(distributed.local_rows(8))
    assert rows == [slice(0, 2), slice(2, 4), slice(4, 6), slice(6, 8)]
    with pytest.raises(distributed.DistributedSetupError, match="batch of 6 does not split evenly over 4 processes"):
        distributed.local_rows(6)


def test_global_batch_norm_is_batch_norm_in_one_process():
    from lrfr.engine.distributed import sync_batch_norm

    torch.manual_seed(0)
    plain = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    synced = __import__("copy").deepcopy(plain)
    assert sync_batch_norm(synced) == 1
    x = torch.randn(4, 3, 8, 8)
    torch.testing.assert_close(synced(x), plain(x))
    assert synced.state_dict().keys() == plain.state_dict().keys()
