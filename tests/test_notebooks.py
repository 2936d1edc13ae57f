"""The quickstart notebook is executed end to end (it is documentation that must keep working)."""
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def test_quickstart_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("LRFR_NOTEBOOK_OUT", str(tmp_path))
    nb = nbformat.read(NOTEBOOKS / "quickstart.ipynb", as_version=4)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    assert (tmp_path / "grid.png").is_file()
    outputs = "".join(str(o.get("data", {}).get("text/plain", "")) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "accuracy_mean" in outputs and "bicubic" in outputs
