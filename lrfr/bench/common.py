"""Benchmark plumbing: run one measured job in a fresh process (so peak RSS is its own) and
write JSON. Speed and memory targets live here, never in timed tests."""
from __future__ import annotations

import json
import multiprocessing as mp
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any, Callable


def shared_root() -> Path:
    """The shared data/weights folder: ``$LRFR_SHARED``, else ``<repo>/../shared`` (as the tests use)."""
    import os

    return Path(os.environ["LRFR_SHARED"]) if os.environ.get("LRFR_SHARED") else Path(__file__).resolve().parents[2].parent / "shared"


def machine_info() -> dict[str, Any]:
    import os

    import torch

    info = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    try:
        import faiss

        info["faiss"] = faiss.__version__
        info["faiss_gpus"] = faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0
    except ImportError:
        info["faiss"] = None
    return info


def _peak_rss_mb() -> float:
    # ru_maxrss is KiB on Linux, bytes on macOS.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _child(fn: Callable[..., dict], kwargs: dict, queue) -> None:
    try:
        t0 = time.perf_counter()
        result = fn(**kwargs)
        result = dict(result)
        result.setdefault("wall_s", time.perf_counter() - t0)
        result["peak_rss_mb"] = _peak_rss_mb()
        queue.put(("ok", result))
    except BaseException as err:  # report, never hang the parent
        queue.put(("error", f"{type(err).__name__}: {err}"))


def measure_in_subprocess(fn: Callable[..., dict], **kwargs) -> dict:
    """Run ``fn(**kwargs)`` (a module-level function returning a dict) in a fresh spawned process.

    Adds ``wall_s`` (unless ``fn`` set its own) and ``peak_rss_mb``, the child's peak resident
    memory: the figure the memory targets are stated in.
    """
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(fn, kwargs, queue))
    proc.start()
    status, payload = queue.get()
    proc.join()
    if status != "ok":
        raise RuntimeError(f"benchmark {fn.__module__}.{fn.__name__} failed: {payload}")
    return payload


def write_json(path: str | Path, data: dict) -> Path:
    from lrfr.io import atomic_write_text

    return atomic_write_text(path, json.dumps(data, indent=2, default=float) + "\n")


def time_steps(step, device: str, batch_size: int, max_batches: int, max_seconds: float) -> dict[str, Any]:
    """Time ``step()`` after one warm-up call: at least one timed call, at most ``max_batches`` or
    ``max_seconds``; returns ``images_per_s``, ``timed_steps``, ``seconds_per_step`` and, on CUDA,
    ``peak_gpu_mb`` (peak allocated memory of the timed calls)."""
    import torch

    cuda = device.startswith("cuda")
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    step()  # warm-up
    sync()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    n, t0 = 0, time.perf_counter()
    while True:
        step()
        sync()
        n += 1
        if n >= max_batches or time.perf_counter() - t0 >= max_seconds:
            break
    dt = time.perf_counter() - t0
    out = {"images_per_s": n * batch_size / dt, "timed_steps": n, "seconds_per_step": dt / n}
    if cuda:
        out["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


#: what ``lrfr bench --device`` accepts
DEVICE_CHOICES = ("all", "cpu", "cuda")


def select_devices(choice: str = "all") -> list[str]:
    """The devices a bench times: ``"all"`` → the CPU, and CUDA where torch sees a GPU; ``"cpu"``;
    ``"cuda"`` (an error naming the problem where there is none: a GPU-only run should not quietly
    time the CPU instead)."""
    import torch

    if choice not in DEVICE_CHOICES:
        raise ValueError(f"bench device must be one of {', '.join(DEVICE_CHOICES)}; got {choice!r}")
    if choice == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: torch.cuda.is_available() is False on this machine")
    if choice == "all":
        return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    return [choice]


def cuda_reason(devices: list[str]) -> str | None:
    """Why a bench's result has no CUDA figures (None when it has them)."""
    import torch

    if "cuda" in devices:
        return None
    return "--device cpu" if torch.cuda.is_available() else "torch.cuda.is_available() is False on this machine"


#: the engine's speed switches a training-step bench can time, as ``[run]`` keys would set them
TRAIN_SWITCHES = {
    "fp32": {"precision": "fp32"},
    "channels_last": {"precision": "fp32", "channels_last": True},
    "bf16": {"precision": "bf16"},
    "bf16+channels_last": {"precision": "bf16", "channels_last": True},
    "compile": {"precision": "fp32", "compile": True},
    "bf16+compile": {"precision": "bf16", "compile": True},
}


def engine_step(recipe, device: str, variant: str, out: str | Path):
    """``recipe``'s training step as ``lrfr run`` runs it under the ``[run]`` switches of ``variant``
    (a key of :data:`TRAIN_SWITCHES`): precision set, networks prepared (memory format, compile),
    each step run by the engine's own :func:`lrfr.engine.loop.run_step`. Returns a ``step()``
    callable that runs the next step; the recipe is put in training mode."""
    from lrfr.engine.loop import LoopSettings, prepare_networks, run_step
    from lrfr.engine.precision import Precision

    if variant not in TRAIN_SWITCHES:
        raise ValueError(f"training variant must be one of {', '.join(TRAIN_SWITCHES)}; got {variant!r}")
    settings = LoopSettings(out=Path(out), total_steps=1, **TRAIN_SWITCHES[variant])
    recipe.precision = Precision(settings.precision, device)
    prepare_networks(recipe, recipe.parts(), settings)
    recipe.set_mode(True)
    steps = iter(range(10**9))
    return lambda: run_step(recipe, next(steps))
