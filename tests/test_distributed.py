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
import textwrap
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


#: a torchrun job whose rank 1 is SIGKILLed when it reaches step 3 (after the step-2 checkpoint)
DYING = textwrap.dedent("""
    import os, signal, sys
    import lrfr.recipes.recognizer.recipe as recipe
    real = recipe.RecognizerRecipe.train_step
    def dying(self, step):
        if step == 3 and os.environ.get("RANK") == "1":
            os.kill(os.getpid(), signal.SIGKILL)
        return real(self, step)
    recipe.RecognizerRecipe.train_step = dying
    from lrfr.cli import main
    sys.exit(main(["run", sys.argv[1], "--quiet"]))
""")


@pytest.mark.slow
def test_a_killed_rank_stops_the_others_with_one_line_and_the_job_resumes(faces, tmp_path):  # noqa: F811
    """Rank 1 dies mid-run: rank 0 stops within the stated timeout with one lrfr line (torchrun adds its own
    report), the step-2 checkpoint loads, and the job resumed with 2 processes ends bit-identical to an
    uninterrupted 2-process run (with 1 process: equal to summation order)."""
    data = recognizer_pipeline(faces, tmp_path / "killed")
    data["run"]["checkpoint_every"] = 2
    killed = write_pipeline(tmp_path / "killed.toml", data)
    driver = tmp_path / "dying.py"
    driver.write_text(DYING)
    exe = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "LRFR_DIST_TIMEOUT": "60"}
    done = subprocess.run([exe, "--standalone", "--nproc-per-node", "2", str(driver), str(killed)],
                          capture_output=True, text=True, timeout=240, env=env)
    assert done.returncode != 0
    ours = [ln for ln in done.stderr.splitlines() if ln.startswith("lrfr run: error:")]
    assert len(ours) == 1 and "another process of this job stopped" in ours[0], done.stderr[-3000:]
    assert f"the last checkpoint in {tmp_path / 'killed'} is kept" in ours[0]
    assert "[rank0]: Traceback" not in done.stderr
    assert load_checkpoint(tmp_path / "killed" / "checkpoint.pt")["step"] == 2
    (tmp_path / "one").mkdir()
    shutil.copy(tmp_path / "killed" / "checkpoint.pt", tmp_path / "one" / "checkpoint.pt")  # for the 1-process resume

    data["run"]["out"] = str(tmp_path / "straight")
    torchrun(write_pipeline(tmp_path / "straight.toml", data))  # the uninterrupted 2-process run
    torchrun(killed)  # resumed with 2 processes: the same sums in the same order
    straight, resumed = weights(tmp_path / "straight"), weights(tmp_path / "killed")
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)
    data["run"]["out"] = str(tmp_path / "one")
    one = write_pipeline(tmp_path / "one.toml", data)
    run_pipeline(one, progress=False)  # the killed job's step-2 checkpoint, resumed in one process
    assert_close_weights(tmp_path / "one", tmp_path / "straight")


def test_the_collective_timeout_is_stated_and_checked(monkeypatch):
    from lrfr.engine import distributed

    monkeypatch.delenv("LRFR_DIST_TIMEOUT", raising=False)
    assert distributed.collective_timeout() == distributed.DEFAULT_TIMEOUT_S == 600
    monkeypatch.setenv("LRFR_DIST_TIMEOUT", "soon")
    with pytest.raises(distributed.DistributedSetupError, match="LRFR_DIST_TIMEOUT='soon': expected a whole number"):
        distributed.collective_timeout()


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
