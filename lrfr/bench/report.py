"""``lrfr bench all``: every bench's JSON gathered into one report, and a short Markdown summary of it.

The summary keeps what a reader compares — throughput, seconds, peak memory, device and variant —
one table per list of measured rows, one line per measured job; the JSON keeps everything.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

#: columns a summary table shows, in this order, when a bench's rows have them
LABELS = ("front_end", "config", "model", "arch", "strategy", "method", "setting", "mode", "job", "device", "variant",
          "batch_size")
NUMBERS = ("images_per_s", "speedup_vs_fp32", "probes_per_s", "seconds", "run_s", "mine_s", "search_s", "seconds_per_step",
           "peak_gpu_mb", "peak_rss_mb", "skipped")


def gather(results: dict[str, dict]) -> dict[str, Any]:
    """One report: ``{"machine": ..., "benches": {name: result}}`` (the machine of the first bench)."""
    machine = next((r.get("machine") for r in results.values() if r.get("machine")), None)
    # a bench measured on another machine (JSON files gathered from several runs) keeps its own
    return {"machine": machine, "benches": {k: {kk: vv for kk, vv in v.items() if kk != "machine" or vv != machine}
                                            for k, v in results.items()}}


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 100 else f"{v:,.0f}"
    return str(v).replace("|", "/") if v is not None else ""


def _table(rows: list[dict]) -> list[str]:
    cols = [c for c in LABELS + NUMBERS if any(c in r for r in rows)]
    if not cols:
        return []
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_fmt(r.get(c)) for c in cols) + " |" for r in rows]
    return lines + [""]


def _walk(name: str, value: Any, out: list[str]) -> None:
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        out += ["", f"**{name}**", ""] + _table(value)
    elif isinstance(value, dict):
        numbers = {k: v for k, v in value.items() if k in NUMBERS or k.endswith("_s")}
        if numbers and any(k in value for k in ("wall_s", "run_s", "seconds")):
            out.append(f"- {name}: " + ", ".join(f"{k} {_fmt(v)}" for k, v in numbers.items()))
        for k, v in value.items():
            if isinstance(v, (dict, list)):
                _walk(f"{name} / {k}", v, out)


def _machine(m: dict) -> str:
    return (f"Machine: {m.get('cpu_count')} CPU cores, torch {m.get('torch')} ({m.get('torch_threads')} threads), "
            f"CUDA: {m.get('cuda') or 'none'}; Python {m.get('python')}.")


def markdown(report: dict[str, Any]) -> str:
    lines = ["# lrfr bench all", "", _machine(report.get("machine") or {}), "",
             "Written by `lrfr bench all --out DIR` (`DIR/report.json` holds every number).", ""]
    for name, result in report["benches"].items():
        lines += [f"## {name}" + (" (quick)" if result.get("quick") else ""), ""]
        if result.get("machine"):
            lines += [_machine(result["machine"]), ""]
        body: list[str] = []
        for k, v in result.items():
            if k in ("bench", "quick"):
                continue
            if isinstance(v, (dict, list)):
                _walk(k, v, body)
            elif (k in ("skipped", "gpu_reason", "cuda_reason") and v) or (isinstance(v, float) and (k in NUMBERS or k.endswith("_s"))):
                body.append(f"- {k}: {_fmt(v)}")
        lines += body + [""]
    return "\n".join(lines).rstrip() + "\n"


def write(out: Path, results: dict[str, dict]) -> tuple[Path, Path]:
    """``out/report.json`` and ``out/summary.md``."""
    from lrfr.bench.common import write_json
    from lrfr.io import atomic_write_text

    report = gather(results)
    return write_json(out / "report.json", report), atomic_write_text(out / "summary.md", markdown(report))
