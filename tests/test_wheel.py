"""The wheel, installed as a user installs it (not editable), works.

Every other test runs against the editable install, where the source tree stands in for anything
the wheel lacks or lays out differently (issue 19 #6: the protocol TOMLs were in the wheel but
unreachable, so `lrfr demo` failed after `pip install`). Here the wheel is built from a copy of
the sources, installed with `--no-deps` into a fresh venv whose only other entries are the
directories this interpreter finds the dependencies in (a `.pth` file; `.pth` files inside them,
such as the editable install's finder, are not run), and driven from an empty folder, so the
source tree cannot be imported. Offline when setuptools is importable here (`make install` puts
it in .venv); otherwise pip's isolated build fetches it from PyPI.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.slow, pytest.mark.wheel]


def _run(cmd, cwd, env, timeout=300):
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc


def _dependency_dirs() -> list[str]:
    """Where this interpreter finds lrfr's dependencies (never the source tree)."""
    dirs = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    for mod in ("torch", "numpy", "scipy", "pandas", "faiss", "sklearn", "PIL", "tqdm", "matplotlib", "torchvision"):
        spec = importlib.util.find_spec(mod)
        if spec is not None and spec.origin:
            dirs.add(str(Path(spec.origin).resolve().parents[1]))
    return sorted(d for d in dirs if Path(d).is_dir() and Path(d).resolve() != REPO)


@pytest.fixture(scope="module")
def wheel_env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    for name in ("lrfr", "protocols"):
        shutil.copytree(REPO / name, src / name, ignore=ignore)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PIP_REQUIRE_VIRTUALENV")}
    env.update(HOME=str(tmp / "home"), LRFR_CACHE=str(tmp / "cache"), XDG_CACHE_HOME=str(tmp / "cache"),
               MPLBACKEND="Agg", OMP_NUM_THREADS="2", PIP_DISABLE_PIP_VERSION_CHECK="1")
    pip = [sys.executable, "-m", "pip"]
    offline = importlib.util.find_spec("setuptools") is not None and importlib.util.find_spec("wheel") is not None
    build = pip + ["wheel", "-q", "--no-deps", "-w", tmp / "dist", src]
    if offline:
        build[4:4] = ["--no-build-isolation", "--no-index"]
    _run(build, tmp, env)
    wheels = sorted((tmp / "dist").glob("lrfr-*.whl"))
    assert len(wheels) == 1, wheels

    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], tmp, env)
    py = venv / "bin" / "python"
    _run(pip + ["--python", py, "install", "-q", "--no-deps", "--no-index", wheels[0]], tmp, env)
    site = _run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp, env).stdout.strip()
    (Path(site) / "_lrfr_test_dependencies.pth").write_text("\n".join(_dependency_dirs()) + "\n")
    run_dir = tmp / "run"  # an empty folder: the source tree is not on sys.path
    run_dir.mkdir()
    return {"py": py, "lrfr": venv / "bin" / "lrfr", "site": Path(site), "cwd": run_dir, "env": env, "wheel": wheels[0]}


def test_wheel_holds_protocols_and_weights(wheel_env):
    import zipfile

    names = zipfile.ZipFile(wheel_env["wheel"]).namelist()
    for name in ("lrfr/_protocol_files/lfw.toml", "lrfr/_protocol_files/blufr.toml",
                 "lrfr/_protocol_files/celeba.toml", "lrfr/weights/sphere20a_synth.pt",
                 "lrfr/weights/cface_celeba.pt", "lrfr/weights/srgan_celeba.pt"):
        assert name in names


def test_installed_wheel_finds_protocols_and_packaged_weights(wheel_env):
    from lrfr.data.synth import SynthFaces

    cwd, env = wheel_env["cwd"], wheel_env["env"]
    code = """
import sys
from pathlib import Path
import lrfr, lrfr.protocols
from lrfr.weights import DEFAULT_RECOGNIZER, packaged_path
site = Path(sys.argv[1]).resolve()
assert Path(lrfr.__file__).resolve().is_relative_to(site), lrfr.__file__
assert lrfr.protocols.names() == ["blufr", "celeba", "lfw"], lrfr.protocols.names()
assert lrfr.protocols.protocol_dir().resolve().is_relative_to(site), lrfr.protocols.protocol_dir()
assert lrfr.protocols.get("lfw").name == "lfw"
assert packaged_path(DEFAULT_RECOGNIZER).resolve().is_relative_to(site), packaged_path(DEFAULT_RECOGNIZER)
print("ok")
"""
    assert "ok" in _run([wheel_env["py"], "-c", code, wheel_env["site"]], cwd, env).stdout

    help_ = _run([wheel_env["lrfr"], "evaluate", "--help"], cwd, env).stdout
    assert "--protocol" in help_ and "--on-bad-image" in help_

    # the data is made here (same SynthFaces code); the installed lrfr evaluates it with the packaged weights
    SynthFaces(n_identities=20, images_per_identity=4, seed=5, identity_offset=500).export(
        cwd / "synth", n_folds=10, pairs_per_fold=3, progress=False)
    res = _run([wheel_env["lrfr"], "evaluate", "--sr", "bicubic", "--protocol", "lfw", "blufr", "--data", "synth",
                "--out", "out", "--workdir", "work", "--device", "cpu", "--quiet"], cwd, env)
    assert "== lfw" in res.stdout and "== blufr" in res.stdout and "bicubic" in res.stdout
    table = (cwd / "out" / "results.csv").read_text()
    assert "sphere20a" in table  # the packaged recognizer loaded from the installed package
    # a packaged real-face generator (trained on CelebA) is a front-end of the installed lrfr
    res = _run([wheel_env["lrfr"], "evaluate", "--sr", "packaged:cface_celeba.pt", "--protocol", "lfw", "--data",
                "synth", "--out", "out2", "--workdir", "work", "--device", "cpu", "--quiet"], cwd, env)
    import pandas as pd

    row = pd.read_csv(cwd / "out2" / "results.csv").iloc[0]
    assert row["sr_sha256"] == __import__("hashlib").sha256((REPO / "lrfr/weights/cface_celeba.pt").read_bytes()).hexdigest()


def test_installed_wheel_exports_a_packaged_network_to_onnx(wheel_env):
    """`lrfr export` from the installed package: the camera preset's probe recognizer, parity-checked as it is written."""
    pytest.importorskip("onnxruntime")
    cwd, env = wheel_env["cwd"], wheel_env["env"]
    res = _run([wheel_env["lrfr"], "export", "packaged:lr_mobilefacenet_robust.pt", "--onnx", "robust.onnx"], cwd, env)
    assert (cwd / "robust.onnx").stat().st_size > 1_000_000 and "cos" in res.stdout.lower()
