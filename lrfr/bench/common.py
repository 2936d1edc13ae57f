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
