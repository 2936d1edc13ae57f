"""results/device_table.py, the GPU path of the real-face table: its commands and what it brings back.

The whole script ran on this CPU with ``train --tiny --device cpu`` (2 steps a stage, every recipe); that takes
minutes, so here only the parts that decide what a device call does and returns are checked.
"""
import importlib.util
import json
import tarfile

import pytest

from conftest import REPO


@pytest.fixture(scope="module")
def device_table():
    spec = importlib.util.spec_from_file_location("device_table", REPO / "results" / "device_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("tiny", [False, True])
def test_every_job_is_a_celeba_pipeline_run_with_its_seed(device_table, tiny):
    """Each job's command: its pipeline with the seed, run folder and carried data, and overrides that the
    recipe's config accepts (parsed here as `lrfr run` parses them)."""
    from lrfr.config import apply_overrides, load_toml
    from lrfr.recipes import parse_pipeline

    for label, (pipeline, _, after, _) in device_table.JOBS.items():
        assert (REPO / pipeline).is_file() and (after is None or after in device_table.JOBS)
        cmd = device_table._command(label, 2, tiny=tiny, device="cuda")
        assert cmd[2:5] == ["lrfr", "run", pipeline]
        sets = cmd[6::2]
        config = parse_pipeline(apply_overrides(load_toml(REPO / pipeline), sets), pipeline)
        assert config.run.seed == 2 and config.run.out == f"runs/gpu/{label}_s2"
        assert "run.seed=2" in sets and f'run.out="runs/gpu/{label}_s2"' in sets
        assert any(s.startswith("data.root=") and s.endswith('celeba-split/train"') for s in sets)
    gan = device_table._command("prior_attention_gan", 1, tiny=tiny, device="cuda")
    assert 'model.init="runs/gpu/prior_attention_s1/generator.pt"' in gan  # its own seed's method 1


def test_pack_runs_returns_every_finished_file_in_at_most_eight_files(device_table, tmp_path, monkeypatch):
    monkeypatch.setattr(device_table, "REPO", tmp_path)
    monkeypatch.setattr(device_table, "MAX_BYTES", 3000)
    report = {}
    for seed in range(3):
        run = tmp_path / "runs" / "gpu" / f"srgan_s{seed}"
        run.mkdir(parents=True)
        (run / "generator.pt").write_bytes(bytes(2000))
        (run / "history.csv").write_text("step,loss\n1,0.5\n")
        (run / "final.json").write_text("{}")
        (run / "checkpoint.pt").write_bytes(bytes(5000))  # never brought back
        report[f"srgan_s{seed}"] = {"exit_code": 0}
    report["cface_s0"] = {"exit_code": None, "stopped": "at the 500 s deadline"}
    out = tmp_path / "out"
    out.mkdir()
    device_table._pack_runs(report, out)
    tars = sorted(out.glob("runs-*.tar"))
    assert 1 < len(tars) <= 7 and all(t.stat().st_size < 3000 + 20 * 1024 for t in tars)
    names = sorted(n for t in tars for n in tarfile.open(t).getnames())
    assert names == sorted(f"srgan_s{s}/{f}" for s in range(3) for f in ("generator.pt", "history.csv", "final.json"))
    assert json.loads((out / "jobs.json").read_text())["cface_s0"]["stopped"] == "at the 500 s deadline"
