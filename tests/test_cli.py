import re
import subprocess
import sys

import pytest

from lrfr.cli import SUBCOMMANDS, main


@pytest.mark.parametrize("command", [name for name, _ in SUBCOMMANDS])
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    assert f"lrfr {command}" in capsys.readouterr().out


def test_console_script_help():
    out = subprocess.run([sys.executable, "-m", "lrfr", "--help"], capture_output=True, text=True, check=True).stdout
    for name, _ in SUBCOMMANDS:
        assert name in out


def test_user_errors_are_one_line(tmp_path, capsys):
    code = main(["run", str(tmp_path / "missing.toml")])
    assert code == 2
    err = capsys.readouterr().err
    assert "missing.toml" in err and "Traceback" not in err


def test_unknown_pipeline_kind(tmp_path, capsys):
    p = tmp_path / "x.toml"
    p.write_text('kind = "teleport"\n')
    assert main(["run", str(p)]) == 2
    assert re.search(r"known: .*recognizer", capsys.readouterr().err)
