"""docs/benchmarks.md's evaluation-speed table is generated from the committed bench JSON, never typed."""
from pathlib import Path

from lrfr.bench.report import BEGIN, END, evaluation_block, update_page

ROOT = Path(__file__).resolve().parents[1]


def test_the_evaluation_table_matches_the_committed_json():
    page = (ROOT / "docs" / "benchmarks.md").read_text()
    block = page[page.index(BEGIN):page.index(END) + len(END)]
    assert block == evaluation_block(ROOT / "docs" / "bench"), (
        "docs/benchmarks.md is stale: python -m lrfr.bench.report docs/bench docs/benchmarks.md")
    assert "| BLUFR headline" in block and "| `lrfr.evaluate` end to end" in block


def test_update_page_rewrites_only_the_block(tmp_path):
    page = tmp_path / "b.md"
    page.write_text(f"before\n{BEGIN}\nold figures\n{END}\nafter\n")
    assert update_page(ROOT / "docs" / "bench", page) is True
    text = page.read_text()
    assert text.startswith("before\n") and text.endswith("\nafter\n") and "old figures" not in text
    assert update_page(ROOT / "docs" / "bench", page) is False  # already current
    (tmp_path / "c.md").write_text("no block here\n")
    try:
        update_page(ROOT / "docs" / "bench", tmp_path / "c.md")
    except ValueError as err:
        assert "no generated block" in str(err)
    else:
        raise AssertionError("a page without the block was accepted")
