"""The package's structure as docs/architecture.md states it: no import circle between lrfr's modules and
packages, and no import that climbs the layer table (a lower layer never imports a higher one). Imports inside
functions count: they run too."""
from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "lrfr"


def unit_of(module: str) -> str | None:
    """``lrfr.recognition.embed`` → ``recognition``; ``lrfr.io`` → ``io``; the package itself → None."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "lrfr" else None


def imports() -> dict[str, set[str]]:
    """unit → the other units it imports (from any function or module level)."""
    edges: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(REPO).with_suffix("")
        module = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        me = unit_of(module) if module != "lrfr" else None
        if me is None:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + ([f"{node.module}.{a.name}" for a in node.names] if node.module == "lrfr" else [])
            for name in names:
                other = unit_of(name)
                if other is not None and other != me and (PACKAGE / other).exists() or \
                        other is not None and other != me and (PACKAGE / f"{other}.py").exists():
                    edges.setdefault(me, set()).add(other)
    return edges


def layer_table() -> dict[str, int]:
    """unit → layer, from the first table of docs/architecture.md (``| N | `a.py`, `b/` | ... |``)."""
    layers = {}
    for line in (REPO / "docs" / "architecture.md").read_text().splitlines():
        m = re.match(r"\|\s*(\d+)\s*\|([^|]*)\|", line)
        if m:
            for name in re.findall(r"`([^`]+)`", m.group(2)):
                layers[name.rstrip("/").removesuffix(".py")] = int(m.group(1))
    return layers


def test_no_import_circle_between_lrfr_modules():
    edges = imports()
    seen, stack, circles = set(), [], []

    def visit(node):
        if node in stack:
            circles.append(stack[stack.index(node):] + [node])
            return
        if node in seen:
            return
        seen.add(node)
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            visit(nxt)
        stack.pop()

    for node in sorted(edges):
        visit(node)
    assert not circles, "import circles: " + "; ".join(" -> ".join(c) for c in circles)


def test_every_unit_has_a_layer_and_no_import_climbs_the_layer_table():
    layers = layer_table()
    units = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
             if (p.suffix == ".py" and p.name not in ("__init__.py", "__main__.py")) or (p.is_dir() and (p / "__init__.py").exists())}
    units.discard("_protocol_files")
    assert not units - set(layers), f"units missing from docs/architecture.md's layer table: {sorted(units - set(layers))}"
    climbs = [f"{a} (layer {layers[a]}) imports {b} (layer {layers[b]})"
              for a, targets in imports().items() for b in targets if layers.get(b, 0) > layers.get(a, 99)]
    assert not climbs, "imports that climb the layer table: " + "; ".join(sorted(climbs))
