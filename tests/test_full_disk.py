"""A full disk: a write that fails stops with one line naming the file, keeps what was there before, and
leaves nothing half-written under a final name.

The disk is filled for real in a child process: ``RLIMIT_FSIZE`` caps the size of any file it writes
(the kernel fails the write with EFBIG, as a full disk fails it with ENOSPC), so torch, numpy and
pandas meet the failure the way they would meet a full disk.
"""
from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lrfr.io import FileWriteError, atomic_write, atomic_write_text
from test_train_faults import faces, recognizer_pipeline, write_pipeline  # noqa: F401

#: run the lrfr command with every file it writes capped at LIMIT bytes
CAPPED = textwrap.dedent("""
    import resource, signal, sys
    limit = int(sys.argv[1])
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # fail the write (EFBIG) instead of killing the process
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    from lrfr.cli import main
    sys.exit(main(sys.argv[2:]))
""")


def capped(limit: int, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CAPPED, str(limit), *argv], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})


def error_lines(done: subprocess.CompletedProcess) -> list[str]:
    return [ln for ln in done.stderr.splitlines() if ": error: " in ln]


def test_atomic_write_names_the_file_and_keeps_the_old_one(tmp_path):
    target = atomic_write_text(tmp_path / "table.csv", "old\n")

    def half_then_full(p: Path):
        p.write_text("half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(FileWriteError, match=r"cannot write .*table\.csv: No space left on device"):
        atomic_write(target, half_then_full)
    assert target.read_text() == "old\n" and os.listdir(tmp_path) == ["table.csv"]

    with pytest.raises(RuntimeError, match="a bug elsewhere"):  # other errors are not disguised as a full disk
        atomic_write(target, lambda p: (_ for _ in ()).throw(RuntimeError("a bug elsewhere")))
    assert os.listdir(tmp_path) == ["table.csv"]


def test_a_full_disk_during_a_checkpoint_keeps_the_last_one(faces, tmp_path):  # noqa: F811
    from lrfr.engine.checkpoint import load_checkpoint
    from lrfr.recipes import run_pipeline

    pipe = write_pipeline(tmp_path / "r.toml", recognizer_pipeline(faces, tmp_path / "run"))
    run_pipeline(pipe, progress=False, stop_after=2)
    ckpt = tmp_path / "run" / "checkpoint.pt"
    before = ckpt.read_bytes()
    done = capped(ckpt.stat().st_size // 2, "run", str(pipe), "--quiet")
    lines = error_lines(done)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert len(lines) == 1 and "cannot write" in lines[0] and "checkpoint.next.pt" in lines[0], lines
    assert f"the last checkpoint, {ckpt}, is kept" in lines[0]
    assert ckpt.read_bytes() == before and load_checkpoint(ckpt)["step"] == 2
    leftovers = [p for p in os.listdir(tmp_path / "run") if p.endswith(".tmp") or p == "checkpoint.next.pt"]
    assert leftovers == []
    run_pipeline(pipe, progress=False)  # with room again, the run resumes and finishes
    assert load_checkpoint(ckpt)["step"] == 6


def test_a_full_disk_while_writing_a_results_table_keeps_the_old_table(tmp_path):
    from lrfr.data.synth import SynthFaces

    data = SynthFaces(n_identities=6, images_per_identity=3, seed=3).export(tmp_path / "faces", n_folds=2,
                                                                             pairs_per_fold=2, progress=False)
    out = tmp_path / "out"
    args = ["evaluate", "--sr", "hr", "--data", str(data), "--protocol", "lfw", "--out", str(out), "--quiet"]
    from lrfr.cli import main

    assert main(args) == 0
    old = (out / "results.csv").read_bytes()
    done = capped(200, *args)
    lines = error_lines(done)
    assert done.returncode == 2 and "Traceback" not in done.stderr and len(lines) == 1, done.stderr[-2000:]
    assert "cannot write" in lines[0] and str(out / "results.csv") in lines[0]
    assert (out / "results.csv").read_bytes() == old
    assert not [p for p in os.listdir(out) if p.endswith(".tmp")]


def test_a_full_disk_while_saving_a_gallery_leaves_no_gallery(tmp_path):
    from lrfr.data.synth import SynthFaces

    SynthFaces(n_identities=4, images_per_identity=2, seed=3).export(tmp_path / "faces", progress=False)
    gallery = tmp_path / "g.lrfr"
    done = capped(2000, "index", "build", "--data", str(tmp_path / "faces" / "images"), "--weights",
                  "packaged:sphere20a_synth.pt", "--out", str(gallery), "--quiet")
    lines = error_lines(done)
    assert done.returncode == 2 and "Traceback" not in done.stderr and len(lines) == 1, done.stderr[-2000:]
    assert "cannot write" in lines[0] and "g.lrfr" in lines[0]
    assert not gallery.exists() and not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
