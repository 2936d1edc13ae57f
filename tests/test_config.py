from dataclasses import dataclass, field

import pytest

from lrfr.config import ConfigError, dump_toml, from_dict, load_config, load_toml, tomllib


@dataclass
class Inner:
    lr: float = 0.1
    milestones: list[int] = field(default_factory=lambda: [1, 2])


@dataclass
class Outer:
    name: str = "x"
    optim: Inner = field(default_factory=Inner)


def test_nested_tables_fill_nested_dataclasses(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('name = "run"\n[optim]\nlr = 1\nmilestones = [5, 6]\n')
    cfg = load_config(Outer, p)
    assert cfg.name == "run"
    assert cfg.optim.lr == 1.0 and isinstance(cfg.optim.lr, float)
    assert cfg.optim.milestones == [5, 6]


def test_unknown_key_is_rejected_by_name(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('[optim]\nlr = 0.1\nmomentun = 0.9\n')
    with pytest.raises(ConfigError, match=r"momentun") as err:
        load_config(Outer, p)
    assert "c.toml" in str(err.value) and "optim" in str(err.value)
    assert "lr, milestones" in str(err.value)  # the known keys are listed


def test_unknown_top_level_key(tmp_path):
    with pytest.raises(ConfigError, match="'colour'"):
        from_dict(Outer, {"colour": "red"})


def test_missing_file_and_bad_toml(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.toml"):
        load_toml(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("a = = 1\n")
    with pytest.raises(ConfigError, match="bad.toml: not valid TOML"):
        load_toml(bad)


def test_table_expected_where_value_given():
    with pytest.raises(ConfigError, match="expected a table"):
        from_dict(Outer, {"optim": 3})


def test_dump_round_trip():
    import dataclasses

    cfg = Outer(name='a "quoted" name', optim=Inner(lr=0.5, milestones=[3]))
    text = dump_toml(dataclasses.asdict(cfg))
    assert from_dict(Outer, tomllib.loads(text)) == cfg
