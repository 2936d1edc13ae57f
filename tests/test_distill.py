"""The distillation recipe (``kind = "distill"``) on tiny real runs: what it writes, what it refuses, that
its loss falls; exact resume, kills and corrupt checkpoints are tests/test_train_faults.py's (one line there)."""
import pandas as pd
import pytest
import torch

from lrfr.cli import main
from lrfr.config import ConfigError, dump_toml, from_dict
from lrfr.recipes import run_pipeline
from lrfr.recipes.distill.config import DistillPipeline
from lrfr.recipes.distill.recipe import DistillRecipe


def tiny(out, **sections):
    data = {"kind": "distill", "name": "tiny-distill",
            "data": {"n_identities": 4, "images_per_identity": 4},
            "val": {"n_identities": 6, "images_per_identity": 4, "n_folds": 2, "pairs_per_fold": 4, "every": 6},
            "optim": {"batch_size": 8, "iterations": 12, "milestones": [10], "lr": 0.02},
            "run": {"out": str(out), "log_every": 1, "seed": 1}}
    for k, v in sections.items():
        data[k] = {**data.get(k, {}), **v}
    return data


def write(path, data):
    path.write_text(dump_toml(data))
    return path


def test_a_run_writes_a_student_that_loads_and_its_loss_falls(tmp_path):
    from lrfr import recognition

    result = run_pipeline(write(tmp_path / "d.toml", tiny(tmp_path / "run")), progress=False)
    student = recognition.load(weights=tmp_path / "run" / "student.pt")
    assert student.arch == "sphere20a" and tuple(student.input_size) == (112, 96)
    from lrfr.recognition.weights import read_weights

    meta = read_weights(tmp_path / "run" / "student.pt")["meta"]
    assert meta["front_end"] == "bicubic" and meta["scales"] == [8] and len(meta["teacher"]["sha256"]) == 64
    assert {"acc_probe", "acc_probe_cross", "acc_probe_hr", "acc_hr", "acc_front_end"} <= set(result["final"])
    hist = pd.read_csv(tmp_path / "run" / "history.csv").dropna(subset=["embedding"])
    first, last = hist["embedding"].iloc[:3].mean(), hist["embedding"].iloc[-3:].mean()
    print(f"\nembedding loss: first 3 steps {first:.4f}, last 3 {last:.4f}")
    assert last < first  # the student moves toward the teacher's HR embedding


def test_a_generator_front_end_is_run_once_over_the_training_faces(tmp_path):
    cfg = from_dict(DistillPipeline, tiny(tmp_path / "g", front_end={"model": "packaged:srgan_synth.pt"},
                                          val={"source": "none"}))
    recipe = DistillRecipe(cfg, progress=False)
    assert recipe.sr_faces is not None and recipe.sr_faces.dtype == torch.uint8
    assert recipe.sr_faces.shape == (len(recipe.data), 3, 112, 96)
    inputs, targets, labels = recipe.batch(0)
    assert inputs.shape == (8, 3, 112, 96) and targets.shape == (8, recipe.teacher.embedding_dim)
    random = from_dict(DistillPipeline, tiny(tmp_path / "r", front_end={"model": "packaged:srgan_synth.pt"},
                                             data={"degrade": "down:bicubic,noise:gauss=0.01"}, val={"source": "none"}))
    assert DistillRecipe(random, progress=False).sr_faces is None  # random degradations: on the fly


@pytest.mark.parametrize("change, message", [
    ({"front_end": {"model": "packaged:srgan_synth.pt"}, "data": {"scales": [4]}},
     r"super-resolves ×8; set data\.scales = \[8\]"),
    ({"student": {"init": "", "arch": "sphere20a", "kwargs": {"width": 0.125, "embedding_dim": 32}}},
     r"\[student\] embeds in 32 dimensions, the teacher in 256"),
    ({"student": {"init": "", "arch": "sphere20a", "kwargs": {"input_size": [56, 48]}}},
     r"\[student\] takes \[56, 48\] faces, the teacher \[112, 96\]"),
    ({"data": {"scales": [5]}}, r"data\.scales: 5 does not divide data\.hr_size \[112, 96\]"),
])
def test_what_cannot_work_is_one_clear_line(tmp_path, capsys, change, message):
    path = write(tmp_path / "bad.toml", tiny(tmp_path / "bad", val={"source": "none"}, **change))
    assert main(["run", str(path), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("lrfr run: error: ")
    import re

    assert re.search(message, err[0]), err[0]


def test_a_student_file_of_another_family_is_refused(tmp_path, capsys):
    from lrfr import sr

    sr.save(sr.build("srresnet", scale=8, channels=4, blocks=1), tmp_path / "g.pt")
    path = write(tmp_path / "bad.toml", tiny(tmp_path / "bad", val={"source": "none"}, student={"init": str(tmp_path / "g.pt")}))
    assert main(["run", str(path), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "g.pt" in err[0]


def test_bad_values_are_refused_when_read():
    with pytest.raises(ConfigError, match=r"loss\.hr_fraction = 1\.0 is out of range: expected in \[0, 1\)"):
        from_dict(DistillPipeline, {"loss": {"hr_fraction": 1.0}})
    with pytest.raises(ConfigError, match=r"loss\.embedding = 'l1' is not allowed"):
        from_dict(DistillPipeline, {"loss": {"embedding": "l1"}})


def test_bench_reports_the_step_speed(tmp_path):
    import json

    assert main(["bench", "distill", "--quick", "--device", "cpu", "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "distill.json").read_text())["rows"]
    assert rows and all(r["images_per_s"] > 0 and r["device"] == "cpu" for r in rows)
