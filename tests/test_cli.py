import re
import subprocess
import sys

import pytest
import torch

from lrfr.cli import SUBCOMMANDS, main


@pytest.mark.parametrize("command", [name for name, _ in SUBCOMMANDS])
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    assert f"lrfr {command}" in capsys.readouterr().out


def test_console_script_help():
    out = subprocess.run([sys.executable, "-m", "lrfr", "--help"], capture_output=True, text=True, check=True).stdout
    for name, _ in SUBCOMMANDS:
        assert name in out


def test_user_errors_are_one_line(tmp_path, capsys):
    code = main(["run", str(tmp_path / "missing.toml")])
    assert code == 2
    err = capsys.readouterr().err
    assert "missing.toml" in err and "Traceback" not in err


def test_unknown_pipeline_kind(tmp_path, capsys):
    p = tmp_path / "x.toml"
    p.write_text('kind = "teleport"\n')
    assert main(["run", str(p)]) == 2
    assert re.search(r"known: .*recognizer", capsys.readouterr().err)


def test_bench_device_choice(capsys):
    import torch

    from lrfr.bench.common import select_devices

    assert select_devices("cpu") == ["cpu"]
    assert select_devices("all") == ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    with pytest.raises(ValueError, match="one of all, cpu, cuda"):
        select_devices("gpu")
    if not torch.cuda.is_available():  # a GPU-only bench on a machine without one: one line, exit 2
        assert main(["bench", "cface", "--quick", "--device", "cuda", "--out", "unused"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err == ["lrfr bench: error: --device cuda: torch.cuda.is_available() is False on this machine"]


def test_bench_engine_step_runs_each_training_switch(tmp_path):
    from lrfr.bench.common import TRAIN_SWITCHES, engine_step
    from lrfr.config import from_dict
    from lrfr.recipes.sr.config import SRPipeline
    from lrfr.recipes.sr.recipe import SRRecipe

    for variant in ("fp32", "bf16+channels_last"):
        cfg = from_dict(SRPipeline, {
            "model": {"arch": "srresnet", "scale": 8, "kwargs": {"channels": 4, "blocks": 1}},
            "discriminator": {"arch": "srgan", "kwargs": {"channels": 4, "dense": 8}},
            "data": {"n_identities": 2, "images_per_identity": 2}, "optim": {"batch_size": 2},
            "run": {"device": "cpu", "out": str(tmp_path / variant)},
        })
        recipe = SRRecipe(cfg, progress=False)
        before = [p.detach().clone() for p in recipe.G.parameters()]
        engine_step(recipe, "cpu", variant, cfg.run.out)()
        assert recipe.precision.mode == TRAIN_SWITCHES[variant]["precision"]
        assert any(not torch.equal(a, b) for a, b in zip(before, recipe.G.parameters()))  # it trained
    with pytest.raises(ValueError, match="training variant must be one of"):
        engine_step(recipe, "cpu", "fp8", cfg.run.out)
