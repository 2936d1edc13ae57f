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


# -- the robust student's data path (issue 42): unlabelled faces, sizes per face, degradation families ---------

def _unlabelled_folder(root, n=6):
    """A flat folder of real 112x96 face files without identities (SynthFaces renders written as JPEG)."""
    from PIL import Image

    from lrfr.data.synth import SynthFaces
    from lrfr.io import to_uint8

    root.mkdir()
    faces = SynthFaces(n_identities=n, images_per_identity=1, size=(112, 96), seed=7, identity_offset=900)
    for i in range(n):
        Image.fromarray(to_uint8(faces[i][0])).save(root / f"{20 + i}_0_0_face.jpg")
    return root


ROBUST = {"lr_long_side": [7, 28],
          "mix": {"down:bicubic_noaa": 0.3, "blur:sigma=0.5~3,down:area,noise:gauss=0~0.03,jpeg:q=30~95": 0.4}}


def test_unlabelled_faces_join_with_label_minus_one_and_the_margin_term_skips_them(tmp_path):
    folder = _unlabelled_folder(tmp_path / "utk")
    cfg = from_dict(DistillPipeline, tiny(tmp_path / "u", data={"also": [f"unlabelled:{folder}"], **ROBUST},
                                          loss={"softmax_weight": 0.5, "head_init": "teacher",
                                                "margin": {"type": "combined", "s": 16.0, "m2": 0.3}},
                                          val={"source": "none"}))
    recipe = DistillRecipe(cfg, progress=False)
    labels = torch.as_tensor(recipe.data.labels)
    assert int((labels == -1).sum()) == 6 and int(labels.max()) == 3 and len(recipe.data.classes) == 4
    # the head starts at the teacher's class centres: each class's weight points at its faces' mean embedding
    from lrfr.recipes.distill.recipe import class_centres

    centres = class_centres(recipe.targets.lookup(torch.arange(16)), labels[:16], 4)
    w = torch.nn.functional.normalize(recipe.head.weight.detach().t(), dim=1)
    assert torch.allclose(w, torch.nn.functional.normalize(centres, dim=1), atol=1e-6)
    losses = [recipe.train_step(s) for s in range(3)]
    assert all(torch.isfinite(v["softmax"]) and torch.isfinite(v["embedding"]) for v in losses)


def test_sizes_and_families_are_drawn_per_face_and_a_step_is_reproducible(tmp_path):
    cfg = from_dict(DistillPipeline, tiny(tmp_path / "s", data=ROBUST, loss={"hr_fraction": 0.0}, val={"source": "none"}))
    recipe = DistillRecipe(cfg, progress=False)
    a, _, _ = recipe.batch(5)
    b, _, _ = DistillRecipe(cfg, progress=False).batch(5)
    assert a.shape == (8, 3, 112, 96) and torch.equal(a, b)  # (seed, step) decides every draw
    hr, _ = __import__("lrfr.engine.batches", fromlist=["take"]).take(recipe.data, recipe.batches.indices(5), 0)
    assert not torch.equal(a, hr)  # every face was degraded (hr_fraction = 0)
    # one face by hand: its family, its size, its seed → the same pixels
    from lrfr.data.degradations import draw_lr_sizes, image_seed
    from lrfr.engine.batches import step_generator

    sizes = draw_lr_sizes(8, (7, 28), (112, 96), step_generator(1, 5, 6))
    family = recipe.mix.draw(8, step_generator(1, 5, 5))
    assert all(7 <= h <= 28 and abs(w - h * 96 / 112) <= 0.5 for h, w in sizes)
    flip = __import__("lrfr.engine.batches", fromlist=["flip_mask"]).flip_mask(8, step_generator(1, 5))
    face = hr[0:1].flip(-1) if flip[0] else hr[0:1]
    lr = recipe.lr_face_at_size(face, int(family[0]), sizes[0], image_seed(1, 5, 0))
    assert tuple(lr.shape[-2:]) == tuple(sizes[0])
    from lrfr.data.resample import fit_to_size

    assert torch.equal(fit_to_size(lr, (112, 96))[0], a[0])  # brought back by the native-LR rule


def test_a_generator_front_end_takes_faces_of_every_size_fitted_to_its_input_first(tmp_path):
    """A x8 generator with sizes drawn per face (the C-Face row of issue 42): each LR face is fitted to 14x12 by
    the native-LR rule, then super-resolved — the pixels ``lrfr.probe.FrontEnd`` gives a probe of that size."""
    from lrfr.data.degradations import draw_lr_sizes, image_seed
    from lrfr.engine.batches import flip_mask, step_generator, take
    from lrfr.probe import FrontEnd

    cfg = from_dict(DistillPipeline, tiny(tmp_path / "gs", front_end={"model": "packaged:srgan_synth.pt"},
                                          data=ROBUST, loss={"hr_fraction": 0.0}, val={"source": "none"}))
    recipe = DistillRecipe(cfg, progress=False)
    assert recipe.sr_faces is None  # random sizes and families: the generator runs every step
    a, _, _ = recipe.batch(2)
    assert a.shape == (8, 3, 112, 96) and torch.equal(a, DistillRecipe(cfg, progress=False).batch(2)[0])
    hr, _ = take(recipe.data, recipe.batches.indices(2), 0)
    sizes = draw_lr_sizes(8, (7, 28), (112, 96), step_generator(1, 2, 6))
    family = recipe.mix.draw(8, step_generator(1, 2, 5))
    flip = flip_mask(8, step_generator(1, 2))
    lr = [recipe.lr_face_at_size(hr[i:i + 1].flip(-1) if flip[i] else hr[i:i + 1], int(family[i]), sizes[i],
                                 image_seed(1, 2, i))[0] for i in range(8)]
    by_hand = FrontEnd.resolve("packaged:srgan_synth.pt")(lr, (112, 96))
    assert torch.allclose(by_hand, a, atol=1e-6)
    losses = recipe.train_step(2)
    assert torch.isfinite(losses["total"])


@pytest.mark.parametrize("change, message", [
    ({"data": {"lr_long_side": [3, 28]}}, r"data\.lr_long_side = \[3, 28\]: give \[lo, hi\] pixels .* 4 <= lo <= hi <= 112"),
    ({"data": {"lr_long_side": [8, 200]}}, r"data\.lr_long_side = \[8, 200\]"),
    ({"data": {"mix": {"down:area": 0.7, "down:bicubic_noaa": 0.5}}}, r"data\.mix: the families' shares sum to 1\.2, past 1"),
    ({"data": {"mix": {"down:cubic": 0.5}}}, r"unknown down-scaling kernel 'cubic'"),
    ({"data": {"mix": {"down:bicubic": 0.5}}}, r"down:bicubic is named twice"),
    ({"loss": {"softmax_weight": 0.1}, "data": {"source": "folder", "root": "unlabelled:{utk}"}},
     r"loss\.softmax_weight = 0\.1 asks for a margin term, but no training face has an identity label"),
])
def test_what_cannot_work_in_the_robust_data_path_is_one_clear_line(tmp_path, capsys, change, message):
    import re

    utk = _unlabelled_folder(tmp_path / "utk")
    if "root" in change.get("data", {}):
        change = {**change, "data": {**change["data"], "root": change["data"]["root"].format(utk=utk)}}
    path = write(tmp_path / "bad.toml", tiny(tmp_path / "bad", val={"source": "none"}, **change))
    assert main(["run", str(path), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("lrfr run: error: ") and re.search(message, err[0]), err


def test_recipes_that_train_on_identities_refuse_unlabelled_faces(tmp_path, capsys):
    utk = _unlabelled_folder(tmp_path / "utk")
    path = write(tmp_path / "r.toml", {"kind": "recognizer", "name": "r", "data": {"n_identities": 4, "images_per_identity": 2,
                                                                                  "also": [f"unlabelled:{utk}"]},
                                       "val": {"source": "none"}, "run": {"out": str(tmp_path / "r")}})
    assert main(["run", str(path), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "has no identity labels, and this recipe trains on identities" in err and "\n" not in err


def test_validation_reports_each_named_condition(tmp_path):
    result = run_pipeline(write(tmp_path / "v.toml", tiny(tmp_path / "v", val={"conditions": {"noaa": "down:bicubic_noaa"}},
                                                         optim={"iterations": 2, "milestones": []})), progress=False)
    assert {"acc_probe_noaa", "acc_probe_cross_noaa"} <= set(result["final"])
