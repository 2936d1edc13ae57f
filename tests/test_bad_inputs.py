"""Bad input, as users meet it: through the ``lrfr`` command, over a corpus of broken files.

Every case of :data:`CASES` builds one broken input in a temp folder (from a small good corpus:
an LFW-style folder with pairs.txt and a BLUFR .mat, a CelebA official layout, the packaged
recognizer weights), runs one ``lrfr`` command in-process and asserts: a non-zero exit, no
traceback, and a message naming the file (or key, or line) and what was expected.

**Adding a case** (a new recipe, weight kind, file format): add one line to :data:`CASES`:
``("id", build, [regex, ...])`` where ``build(c)`` breaks something in a fresh copy of the corpus
through the helpers of :class:`Corpus` and returns the command line, and every regex must be
found in stderr. A few tests below check the other half of the contract: user errors never show
a traceback (also in a real subprocess), real bugs still do, and what is skipped is listed.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lrfr.cli import main
from lrfr.data.blufr import BlufrConfig, write_blufr_config
from lrfr.errors import LrfrError
from lrfr.weights import DEFAULT_RECOGNIZER, packaged_path

H, W = 112, 96  # the packaged recognizer's input size
IDENTITIES = ("Ann", "Bob", "Cid", "Dee")
PER_ID = 3
# 2 folds x (2 same + 2 different)
PAIRS = """2\t2
Ann\t1\t2
Bob\t1\t3
Ann\t3\tBob\t2
Cid\t1\tDee\t1
Cid\t2\t3
Dee\t1\t2
Ann\t1\tDee\t3
Bob\t1\tCid\t1
"""


def write_face(path: Path, size=(H, W), seed: int = 0) -> Path:
    from PIL import Image

    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8), "RGB").save(path, quality=90)
    return path


def _blufr(names: list[str]) -> BlufrConfig:
    labels = np.array([IDENTITIES.index(n.split("_")[0]) + 1 for n in names])
    test = np.arange(len(names))
    gal = np.array([i for i, n in enumerate(names) if n.endswith("_0001.jpg")])
    prob = np.setdiff1d(test, gal)
    return BlufrConfig(names, labels, [test, test], [test, test], [gal, gal], [prob, prob])


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """The good corpus, built once; each case works on a copy."""
    return make_corpus(tmp_path_factory.mktemp("corpus"))


def make_corpus(root: Path) -> Path:
    lfw = root / "lfw"
    names = []
    for k, ident in enumerate(IDENTITIES):
        for n in range(1, PER_ID + 1):
            write_face(lfw / "images" / ident / f"{ident}_{n:04d}.jpg", seed=10 * k + n)
            names.append(f"{ident}_{n:04d}.jpg")
    (lfw / "pairs.txt").write_text(PAIRS)
    write_blufr_config(lfw / "blufr_config.mat", _blufr(names))
    celeba = root / "celeba"
    lines, parts = [], []
    for i in range(1, 9):
        name = f"{i:06d}.jpg"
        write_face(celeba / name, seed=100 + i)
        lines.append(f"{name} {1 + (i - 1) // 2}")
        parts.append(f"{name} 0")
    (celeba / "identity_CelebA.txt").write_text("\n".join(lines) + "\n")
    (celeba / "list_eval_partition.txt").write_text("\n".join(parts) + "\n")
    shutil.copy2(packaged_path(DEFAULT_RECOGNIZER), root / "recognizer.pt")
    from lrfr import sr

    sr.save(sr.build("srresnet", scale=8, channels=4, blocks=1), root / "sr.pt", meta={"pipeline": "tiny"})
    return root


class Corpus:
    """Fresh copies of the good corpus in a test's temp folder, and the command lines that use them."""

    def __init__(self, base: Path, tmp: Path):
        self.base, self.tmp = base, tmp

    def _copy(self, name: str) -> Path:
        dst = self.tmp / name
        if not dst.exists():
            (shutil.copytree if (self.base / name).is_dir() else shutil.copy2)(self.base / name, dst)
        return dst

    # --- the corpus ---
    def lfw(self) -> Path:
        """An LFW-style data root: images/Name/Name_NNNN.jpg, pairs.txt, blufr_config.mat."""
        return self._copy("lfw")

    def faces(self) -> Path:
        """The LFW-style image folder (identity folders)."""
        return self.lfw() / "images"

    def celeba(self) -> Path:
        """CelebA's official layout: flat images, identity_CelebA.txt, list_eval_partition.txt."""
        return self._copy("celeba")

    def weights(self) -> Path:
        """A copy of the packaged recognizer weights (an lrfr weight file, sphere20a 112x96)."""
        return self._copy("recognizer.pt")

    def sr_weights(self) -> Path:
        """A copy of a tiny ×8 SRResNet model file (an lrfr model file of family "sr")."""
        return self._copy("sr.pt")

    def file(self, name: str, data: bytes | str = b"") -> Path:
        """A file of its own in the temp folder (not part of the corpus)."""
        return self.write(self.tmp / name, data)

    # --- ways to break it (paths come from the copies above) ---
    def write(self, path: Path, data: bytes | str) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.write_bytes if isinstance(data, bytes) else path.write_text)(data)
        return path

    def truncate(self, path: Path, keep: float = 0.5) -> Path:
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * keep)])
        return path

    def resize(self, path: Path, size=(250, 250)) -> Path:
        return write_face(path, size=size, seed=7)

    def torch_file(self, name: str, obj) -> Path:
        path = self.tmp / name
        torch.save(obj, path)
        return path

    # --- command lines ---
    def evaluate(self, data, *extra) -> list[str]:
        return ["evaluate", "--data", str(data), "--out", str(self.tmp / "out"), "--workdir", str(self.tmp / "work"),
                "--device", "cpu", "--quiet", *map(str, extra)]

    def index_build(self, data, weights=None, *extra) -> list[str]:
        return ["index", "build", "--data", str(data), "--weights", str(weights or self.weights()),
                "--out", str(self.tmp / "gallery.lrfr"), "--device", "cpu", "--quiet", *map(str, extra)]

    def mine(self, data, weights=None, *extra) -> list[str]:
        return ["mine", "--data", str(data), "--weights", str(weights or self.weights()),
                "--out", str(self.tmp / "compare.npz"), "--device", "cpu", "--quiet", *map(str, extra)]


def _pairs(c: Corpus, text: str) -> list[str]:
    root = c.lfw()
    (root / "pairs.txt").write_text(text)
    return c.evaluate(root, "--protocol", "lfw")


def _blufr_file(c: Corpus, **fields) -> list[str]:
    import scipy.io

    root = c.lfw()
    m = scipy.io.loadmat(root / "blufr_config.mat")
    m = {k: v for k, v in m.items() if not k.startswith("__")}
    for k, v in fields.items():
        if v is None:
            m.pop(k)
        else:
            m[k] = v
    scipy.io.savemat(root / "blufr_config.mat", m, format="5")
    return c.evaluate(root, "--protocol", "blufr")


def _celeba(c: Corpus, identity: str | None = None, partition: str | None | bool = True, cmd="index") -> list[str]:
    """The CelebA layout with another identity file / partition file (None: removed)."""
    root = c.celeba()
    if identity is not None:
        (root / "identity_CelebA.txt").write_text(identity)
    if partition is None:
        (root / "list_eval_partition.txt").unlink()
    elif isinstance(partition, str):
        (root / "list_eval_partition.txt").write_text(partition)
    return c.index_build(root) if cmd == "index" else c.evaluate(root, "--protocol", "celeba")


def _protocol_toml(c: Corpus, text: str) -> list[str]:
    return c.evaluate(c.lfw(), "--protocol", c.file("proto.toml", text))


def _lrfr_weights(c: Corpus, **changes) -> Path:
    obj = torch.load(c.weights(), map_location="cpu", weights_only=True)
    obj.update(changes)
    return c.torch_file("changed.pt", obj)


def _pipeline(c: Corpus, text: str, *extra) -> list[str]:
    """``lrfr run`` on a pipeline TOML written from ``text`` (+ extra CLI arguments)."""
    return ["run", str(c.file("pipe.toml", text)), "--quiet", *map(str, extra)]


#: the smallest SR pipeline that builds (2 SynthFaces identities, no validation)
_TINY_SR = ('kind = "sr"\n[model]\nkwargs = {channels = 4, blocks = 1}\n[data]\nn_identities = 2\n'
            'images_per_identity = 2\n[val]\nsource = "none"\n[optim]\nbatch_size = 2\niterations = 1\n')


def _corrupt_checkpoint(c: Corpus) -> list[str]:
    out = c.tmp / "run"
    c.write(out / "checkpoint.pt", b"PK\x03\x04 not really a zip")
    return _pipeline(c, _TINY_SR + f'[run]\nout = "{out}"\n')


def then(*steps):
    """``then(break_something, ..., argv)``: the arguments run in order; the last is the command line."""
    return steps[-1]


_IMG = r"cannot read image"
_SIZE = r"image is 250x250 \(HxW\) but 112x96 \(the recognizer's input size\) was expected"

#: (id, build(corpus) -> argv, regexes that must all be found in the error line)
CASES = [
    # --- images, through every command that reads them ---
    ("index-truncated-jpeg", lambda c: then(c.truncate(c.faces() / "Bob/Bob_0002.jpg", 0.3), c.index_build(c.faces())),
     [r"Bob_0002\.jpg", _IMG]),
    ("index-text-named-jpg", lambda c: then(c.write(c.faces() / "Bob/Bob_0002.jpg", "not an image"), c.index_build(c.faces())),
     [r"Bob_0002\.jpg", _IMG]),
    ("index-wrong-size", lambda c: then(c.resize(c.faces() / "Ann/Ann_0001.jpg"), c.index_build(c.faces())),
     [r"Ann_0001\.jpg: " + _SIZE]),
    ("mine-wrong-size", lambda c: then(c.resize(c.faces() / "Cid/Cid_0002.jpg"), c.mine(c.faces())),
     [r"Cid_0002\.jpg: " + _SIZE]),
    ("mine-truncated-jpeg", lambda c: then(c.truncate(c.faces() / "Dee/Dee_0001.jpg", 0.2), c.mine(c.faces())),
     [r"Dee_0001\.jpg", _IMG]),
    ("evaluate-wrong-size", lambda c: then(c.resize(c.faces() / "Ann/Ann_0001.jpg"), c.evaluate(c.lfw(), "--protocol", "lfw")),
     [r"Ann_0001\.jpg: " + _SIZE]),
    ("evaluate-wrong-size-batch-1", lambda c: then(c.resize(c.faces() / "Bob/Bob_0003.jpg"),
                                                   c.evaluate(c.lfw(), "--protocol", "lfw", "--batch-size", 1)),
     [r"Bob_0003\.jpg: " + _SIZE]),
    ("evaluate-unreadable", lambda c: then(c.write(c.faces() / "Dee/Dee_0002.jpg", b"\x00" * 50),
                                           c.evaluate(c.lfw(), "--protocol", "blufr")),
     [r"Dee_0002\.jpg", _IMG]),
    ("index-empty-identity-folder", lambda c: then((c.faces() / "Eve").mkdir(), c.index_build(c.faces())),
     [r"identity folder without images: .*Eve"]),
    ("index-data-missing", lambda c: c.index_build(c.tmp / "nowhere"), [r"nowhere", r"not found"]),
    ("index-data-is-a-file", lambda c: c.index_build(c.file("faces.txt", "x")), [r"faces\.txt", r"not a folder"]),
    ("index-no-identity-folders", lambda c: c.index_build(c.file("empty/readme.txt", "x").parent),
     [r"empty: not a face data set: expected identity folders"]),
    # --- pairs.txt ---
    ("pairs-bad-header", lambda c: _pairs(c, "ten 2\n"), [r"pairs\.txt:1: header must be 'n_folds n_per_fold'"]),
    ("pairs-wrong-count", lambda c: _pairs(c, "2 2\nAnn 1 2\n"), [r"pairs\.txt: header says 2 folds .* = 8 pair lines; found 1"]),
    ("pairs-bad-line", lambda c: _pairs(c, PAIRS.replace("Bob\t1\t3", "Bob\tone\t3")),
     [r"pairs\.txt:3: fold 1, expected a same line"]),
    ("pairs-missing-image", lambda c: then((c.faces() / "Ann/Ann_0002.jpg").unlink(), c.evaluate(c.lfw(), "--protocol", "lfw")),
     [r"pairs\.txt:2: Ann 2: image Ann/Ann_0002\.jpg not found", r"names its images like LFW"]),
    ("pairs-number-out-of-range", lambda c: _pairs(c, PAIRS.replace("Bob\t1\t3", "Bob\t1\t9")),
     [r"pairs\.txt:3: Bob 9: image Bob/Bob_0009\.jpg not found"]),
    ("pairs-missing-identity", lambda c: _pairs(c, PAIRS.replace("Cid\t1\tDee\t1", "Cid\t1\tZed\t1")),
     [r"pairs\.txt:5: Zed 1: identity folder not found: .*Zed"]),
    ("pairs-file-missing", lambda c: then((c.lfw() / "pairs.txt").unlink(), c.evaluate(c.lfw(), "--protocol", "lfw")),
     [r"pairs file not found under .*lfw", r"pairs\.txt"]),
    # --- BLUFR .mat ---
    ("blufr-not-a-mat-file", lambda c: then(c.write(c.lfw() / "blufr_config.mat", "garbage"), c.evaluate(c.lfw(), "--protocol", "blufr")),
     [r"blufr_config\.mat: not a readable MATLAB \.mat file"]),
    ("blufr-missing-field", lambda c: _blufr_file(c, galIndex=None), [r"blufr_config\.mat: missing field\(s\) galIndex"]),
    ("blufr-index-out-of-range", lambda c: _blufr_file(c, devTestIndex=np.array([[99.0]])),
     [r"blufr_config\.mat: devTestIndex: indices must be 1-based into imageList \(1\.\.12\)"]),
    ("blufr-image-missing", lambda c: then((c.faces() / "Cid/Cid_0003.jpg").unlink(), c.evaluate(c.lfw(), "--protocol", "blufr")),
     [r"1 of 12 images of blufr_config\.mat are not in", r"Cid_0003\.jpg"]),
    # --- CelebA layout ---
    ("celeba-bad-identity-line", lambda c: _celeba(c, identity="000001.jpg 1\n000002.jpg\n"),
     [r"identity_CelebA\.txt:2: expected 'image_name value'"]),
    ("celeba-no-partition-file", lambda c: _celeba(c, partition=None), [r"list_eval_partition\.txt not found near .*celeba"]),
    ("celeba-listed-images-absent", lambda c: _celeba(c, identity="000001.jpg 1\n000099.jpg 1\n",
                                                      partition="000001.jpg 0\n000099.jpg 0\n"),
     [r"1 of 2 images listed in .*identity_CelebA\.txt are not in", r"000099\.jpg"]),
    ("celeba-protocol-too-few-identities", lambda c: _celeba(c, cmd="evaluate"),
     [r"celeba", r"fewer than n_per_fold=300", r"disjoint_identities"]),
    # --- recognizer weight files ---
    ("weights-missing", lambda c: c.index_build(c.faces(), c.tmp / "nothing.pt"), [r"nothing\.pt", r"not found"]),
    ("weights-truncated", lambda c: c.index_build(c.faces(), c.truncate(c.weights())), [r"recognizer\.pt"]),
    ("weights-text-file", lambda c: c.index_build(c.faces(), c.file("w.pt", "hello")), [r"w\.pt"]),
    ("weights-wrong-kind", lambda c: c.index_build(c.faces(), c.torch_file("list.pt", [1, 2, 3])), [r"list\.pt", r"expected"]),
    ("weights-unknown-architecture", lambda c: c.index_build(c.faces(), _lrfr_weights(c, arch="resnet9000")),
     [r"changed\.pt", r"resnet9000", r"sphere20a"]),
    ("weights-match-no-architecture", lambda c: c.index_build(c.faces(), c.torch_file("bare.pt", {"fc.weight": torch.zeros(3, 3)})),
     [r"bare\.pt", r"matches none"]),
    ("weights-other-architecture", lambda c: c.index_build(c.faces(), None, "--recognizer", "mobilefacenet"),
     [r"recognizer\.pt", r"sphere20a", r"mobilefacenet"]),
    ("recognizer-unknown-name", lambda c: c.mine(c.faces(), None, "--recognizer", "bogusnet"), [r"bogusnet", r"sphere20a"]),
    # --- protocol files ---
    ("protocol-unknown-name", lambda c: c.evaluate(c.lfw(), "--protocol", "lfv"), [r"unknown protocol 'lfv'; known: blufr, celeba, lfw"]),
    ("protocol-unknown-key", lambda c: _protocol_toml(c, 'kind = "lfw"\nname = "x"\npairz = "p.txt"\n'),
     [r"proto\.toml", r"unknown key", r"pairz"]),
    ("protocol-bad-kind", lambda c: _protocol_toml(c, 'kind = "lfx"\n'), [r"proto\.toml", r"kind", r"lfw, blufr, celeba"]),
    ("protocol-not-toml", lambda c: _protocol_toml(c, "kind = = 1\n"), [r"proto\.toml", r"TOML"]),
    ("protocol-file-missing", lambda c: c.evaluate(c.lfw(), "--protocol", c.tmp / "none.toml"), [r"protocol file not found: .*none\.toml"]),
    # SR model files (lrfr evaluate --sr)
    ("sr-weights-truncated", lambda c: c.evaluate(c.lfw(), "--sr", c.truncate(c.sr_weights())), [r"sr\.pt", r"truncated|corrupt"]),
    ("sr-weights-missing", lambda c: c.evaluate(c.lfw(), "--sr", c.tmp / "gone.pt"), [r"gone\.pt", r"no such file"]),
    ("sr-weights-are-a-recognizer", lambda c: c.evaluate(c.lfw(), "--sr", c.weights()), [r"recognizer\.pt", r"recognizer", r"not an SR"]),
    ("sr-learned-name-alone", lambda c: c.evaluate(c.lfw(), "--sr", "srresnet"), [r"srresnet", r"untrained", r"model file"]),
    ("sr-unknown-name", lambda c: c.evaluate(c.lfw(), "--sr", "srgann"), [r"srgann", r"bicubic"]),
    ("sr-wrong-scale", lambda c: c.evaluate(c.lfw(), "--sr", c.sr_weights(), "--scale", "4"), [r"sr\.pt", r"×8", r"×4"]),
    ("recognizer-weights-are-an-sr-file", lambda c: c.index_build(c.faces(), c.sr_weights()), [r"sr\.pt", r"SR generator"]),
    # pipeline TOMLs (lrfr run)
    ("pipeline-missing", lambda c: ["run", str(c.tmp / "none.toml")], [r"none\.toml", r"not found"]),
    ("pipeline-no-kind-unknown-key", lambda c: _pipeline(c, 'nmae = "x"\n'), [r"pipe\.toml", r"kind", r"unknown key 'nmae' \(did you mean 'name'\?\)"]),
    ("pipeline-unknown-kind", lambda c: _pipeline(c, 'kind = "srgann"\n'), [r"pipe\.toml", r"srgann", r"recognizer, sr"]),
    ("pipeline-unknown-key", lambda c: _pipeline(c, 'kind = "sr"\n[optim]\nlrr = 0.1\n'), [r"pipe\.toml\.optim", r"'lrr' \(did you mean 'lr'\?\)"]),
    ("pipeline-wrong-type", lambda c: _pipeline(c, 'kind = "sr"\n[optim]\nlr = "0.1x"\n'), [r"optim\.lr", r"expected a number, got string '0\.1x'"]),
    ("pipeline-set-not-a-number", lambda c: _pipeline(c, _TINY_SR, "--set", "optim.lr=0.1x"), [r"optim\.lr", r"expected a number"]),
    ("pipeline-set-without-value", lambda c: _pipeline(c, _TINY_SR, "--set", "optim.lr"), [r"--set expects SECTION\.KEY=VALUE"]),
    ("pipeline-unknown-architecture", lambda c: _pipeline(c, _TINY_SR.replace("[model]\n", '[model]\narch = "srresnett"\n')),
     [r"srresnett", r"srresnet"]),
    ("pipeline-unknown-build-argument", lambda c: _pipeline(c, _TINY_SR.replace("blocks = 1", "blokcs = 1")), [r"blokcs"]),
    ("pipeline-vgg-weights-missing", lambda c: _pipeline(c, _TINY_SR + '[loss]\nperceptual_weight = 1.0\nperceptual_extractor = "vgg19"\n'
                                                         f'vgg_weights = "{c.tmp / "vgg19.pth"}"\n'), [r"vgg19\.pth"]),
    ("pipeline-checkpoint-corrupt", _corrupt_checkpoint, [r"checkpoint\.pt", r"--restart"]),
    ("pipeline-pfsr-steps-mismatch", lambda c: _pipeline(c, 'kind = "pfsr"\n[val]\nsource = "none"\n[optim]\niterations = 10\n[progressive]\nstep_iterations = [2, 2, 2]\n'), [r"progressive\.step_iterations \[2, 2, 2\] sum to 6, but optim\.iterations = 10"]),
    ("pipeline-landmarks-folder-without-root", lambda c: _pipeline(c, 'kind = "landmarks"\n[data]\nsource = "folder"\n'), [r"data\.source = 'folder' needs data\.root"]),
    # every numeric config value carries its bounds (lrfr.config.bounded): one line naming key, value and range
    ("pipeline-negative-iterations", lambda c: _pipeline(c, _TINY_SR, "--set", "optim.iterations=-5"),
     [r"optim\.iterations = -5 is out of range: expected >= 1"]),
    ("pipeline-zero-iterations", lambda c: _pipeline(c, _TINY_SR, "--set", "optim.iterations=0"),
     [r"optim\.iterations = 0 is out of range: expected >= 1"]),
    ("pipeline-zero-batch", lambda c: _pipeline(c, _TINY_SR, "--set", "optim.batch_size=0"),
     [r"optim\.batch_size = 0 is out of range: expected >= 1"]),
    ("pipeline-beta-one", lambda c: _pipeline(c, _TINY_SR, "--set", "optim.betas=[0.9, 1.0]"),
     [r"optim\.betas = \[0\.9, 1\.0\] is out of range: expected in \[0, 1\) \(each item\)"]),
    ("pipeline-negative-weight", lambda c: _pipeline(c, _TINY_SR, "--set", "loss.pixel_weight=-1"),
     [r"loss\.pixel_weight = -1\.0 is out of range: expected >= 0"]),
    ("pipeline-lr-decay-above-one", lambda c: _pipeline(c, 'kind = "recognizer"\n', "--set", "optim.lr_decay=1.5"),
     [r"optim\.lr_decay = 1\.5 is out of range: expected in \(0, 1\]"]),
    ("pipeline-cface-stage-negative", lambda c: _pipeline(c, 'kind = "cface"\n', "--set", "stage4.recognizer_momentum=1"),
     [r"stage4\.recognizer_momentum = 1\.0 is out of range: expected in \[0, 1\)"]),
    ("pipeline-bad-degradation-spec", lambda c: _pipeline(c, _TINY_SR, "--set", "data.degrade=blur:sigma=2~1,down:bicubic"),
     [r"data\.degrade = 'blur:sigma=2~1,down:bicubic' is not allowed: .*a range is written lo~hi with lo <= hi"]),
    ("pipeline-several-bounds-at-once", lambda c: _pipeline(c, _TINY_SR, "--set", "optim.batch_size=0", "--set", "run.log_every=0"),
     [r"optim\.batch_size = 0 is out of range", r"run\.log_every = 0 is out of range: expected >= 1"]),
    ("pipeline-precision-unknown", lambda c: _pipeline(c, _TINY_SR + '[run]\nprecision = "fp8"\n'),
     [r"run\.precision = 'fp8' is not allowed: expected one of 'fp32', 'bf16', 'fp16'"]),
    ("pipeline-fp16-on-cpu", lambda c: _pipeline(c, _TINY_SR + '[run]\nprecision = "fp16"\ndevice = "cpu"\n'),
     [r"'fp16' needs a CUDA device", r"'bf16' or 'fp32'"]),
    ("pipeline-init-is-a-recognizer", lambda c: _pipeline(c, _TINY_SR.replace("[model]\n", f'[model]\ninit = "{c.weights()}"\n')),
     [r"recognizer\.pt", r"not an SR generator"]),
    # degradation specs, calibration, gallery fingerprints (issue 18)
    ("evaluate-degrade-spec-malformed", lambda c: c.evaluate(c.lfw(), "--protocol", "lfw", "--degrade", "blur:sigma=x,down:bicubic"),
     [r"degradation 'blur:sigma=x,down:bicubic'", r"sigma='x' is not a number"]),
    ("calibrate-too-few-impostors", lambda c: ["calibrate", "--data", str(c.lfw()), "--protocol", "lfw", "--weights", str(c.weights()),
                                               "--far", "1e-4", "--out", str(c.tmp / "cal.json"), "--device", "cpu", "--quiet"],
     [r"FAR 0\.0001 needs at least 5,000 impostor pairs", r"got \d+"]),
    ("index-search-other-weights", lambda c: then(main(c.index_build(c.faces())), [
        "index", "search", "--index", str(c.tmp / "gallery.lrfr"), "--images", str(c.faces()), "--device", "cpu", "--quiet",
        "--weights", str(_lrfr_weights(c, meta={"retrained": 1}))]),
     [r"gallery .*gallery\.lrfr was embedded by another gallery recognizer \(weights differ\)",
      r"holds \[recognizer=sphere20a, weights_sha256=[0-9a-f]{64}, flip=concat\]",
      r"this search uses \[recognizer=sphere20a, weights_sha256=[0-9a-f]{64}"]),
]


@pytest.mark.parametrize("build, patterns", [pytest.param(b, p, id=i) for i, b, p in CASES])
def test_bad_input_is_one_clear_message(build, patterns, base, tmp_path, capsys):
    argv = build(Corpus(base, tmp_path))
    assert argv, "the case's build step must return the command line"
    code = main(argv)  # an exception escaping here is a traceback for the user
    err = capsys.readouterr().err
    assert code != 0, f"exit 0 for {argv}; stderr: {err}"
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.startswith("lrfr ") and ": error: " in ln]
    assert len(lines) == 1, err
    for pattern in patterns:
        assert re.search(pattern, lines[0]), f"{pattern!r} not in: {lines[0]}"


def test_case_ids_are_unique():
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids))


# --- beyond the table ---------------------------------------------------------------------------


def test_positional_pairs_resolution_is_announced(base, tmp_path, capsys):
    """Folders not named like LFW (CelebA/CASIA style) resolve by position, with a warning."""
    c = Corpus(base, tmp_path)
    root = c.lfw()
    for ident in IDENTITIES:
        for n in range(1, PER_ID + 1):
            (root / "images" / ident / f"{ident}_{n:04d}.jpg").rename(root / "images" / ident / f"img{n}.jpg")
    assert main(c.evaluate(root, "--protocol", "lfw")) == 0
    captured = capsys.readouterr()
    assert re.search(r"lrfr evaluate: warning: .* resolved by position", captured.err)
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert "by position" in results["conventions"]["lfw"]["image_numbering"]


def test_skip_lists_the_images_and_pairs_it_leaves_out(base, tmp_path, capsys):
    c = Corpus(base, tmp_path)
    root = c.lfw()
    c.write(c.faces() / "Ann/Ann_0002.jpg", "not an image")
    c.resize(c.faces() / "Dee/Dee_0003.jpg")
    assert main(c.evaluate(root, "--protocol", "lfw", "blufr", "--on-bad-image", "skip")) == 0
    out = capsys.readouterr().out
    assert "lfw: skipped 2 image(s)" in out and "removing 2 pair(s)" in out
    assert "Ann_0002.jpg: cannot read image" in out and "Dee_0003.jpg: image is 250x250" in out
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    lfw = saved["skipped"]["lfw"]
    assert [Path(i["path"]).name for i in lfw["images"]] == ["Ann_0002.jpg", "Dee_0003.jpg"]
    assert sorted(p["line"] for p in lfw["pairs_removed"]) == [2, 8]  # "Ann 1 2", "Ann 1 Dee 3"
    blufr = saved["skipped"]["blufr"]
    # 12 test images per trial, 2 removed: 66 - 45 = 21 verification pairs per trial, 2 trials
    assert blufr["n_pairs_removed"] == 42 and blufr["trials"][0]["probes"] == 2
    rows = {r["protocol"]: r for r in saved["rows"]}
    assert rows["lfw"]["n_images_skipped"] == 2 and rows["lfw"]["n_pairs_removed"] == 2
    assert rows["lfw"]["n_pairs"] == 6 and rows["blufr"]["n_images"] == 10


def test_skip_through_the_library(base, tmp_path):
    import lrfr

    c = Corpus(base, tmp_path)
    root = c.lfw()
    c.write(c.faces() / "Bob/Bob_0003.jpg", b"")
    with pytest.raises(ValueError, match=r"Bob_0003\.jpg"):
        lrfr.evaluate("bicubic", protocol="lfw", data=root, workdir=tmp_path, progress=False, device="cpu")
    table = lrfr.evaluate("bicubic", protocol="lfw", data=root, workdir=tmp_path, progress=False, device="cpu",
                          on_bad_image="skip")
    assert table.loc[0, "n_images_skipped"] == 1 and table.loc[0, "n_pairs_removed"] == 1
    (skipped,) = table.attrs["skipped"]["lfw"]["images"]
    assert skipped["path"].endswith("Bob_0003.jpg") and "cannot read image" in skipped["reason"]
    assert table.attrs["skipped"]["lfw"]["pairs_removed"][0]["line"] == 3


def test_lrfr_errors_are_user_errors_and_bugs_keep_their_traceback(monkeypatch, capsys):
    import lrfr.cli.evaluate as evaluate_cli

    class Exploded(LrfrError):  # an error raised on purpose that is no ValueError (like NonFiniteLossError)
        pass

    monkeypatch.setattr(evaluate_cli, "run", lambda args: (_ for _ in ()).throw(Exploded("loss is NaN at step 7")))
    assert main(["evaluate"]) == 2
    assert capsys.readouterr().err.strip() == "lrfr evaluate: error: loss is NaN at step 7"

    monkeypatch.setattr(evaluate_cli, "run", lambda args: (_ for _ in ()).throw(ZeroDivisionError("a bug")))
    with pytest.raises(ZeroDivisionError):
        main(["evaluate"])

    monkeypatch.setenv("LRFR_DEBUG", "1")  # user errors with their traceback, for bug reports
    monkeypatch.setattr(evaluate_cli, "run", lambda args: (_ for _ in ()).throw(Exploded("x")))
    with pytest.raises(Exploded):
        main(["evaluate"])


def _lrfr(argv, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "LRFR_DEBUG"}
    return subprocess.run([sys.executable, "-m", "lrfr", *argv], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.slow
@pytest.mark.parametrize("case", ["index-wrong-size", "weights-truncated"])
def test_no_traceback_in_a_real_process(case, base, tmp_path):
    build, patterns = next((b, p) for i, b, p in CASES if i == case)
    proc = _lrfr(build(Corpus(base, tmp_path)), tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    (line,) = [ln for ln in proc.stderr.splitlines() if ": error: " in ln]
    assert all(re.search(p, line) for p in patterns), proc.stderr
