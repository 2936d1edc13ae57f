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


@dataclass
class Typed:
    lr: float = 0.1
    steps: int = 10
    name: str = "x"
    flag: bool = False
    note: str | None = None
    kwargs: dict = field(default_factory=dict)


@pytest.mark.parametrize("key,value,expected", [
    ("lr", "0.1x", r"Typed\.lr: expected a number, got string '0\.1x'"),
    ("steps", 1.5, r"steps: expected an integer, got number 1\.5"),
    ("steps", True, r"steps: expected an integer, got boolean True"),
    ("flag", 1, r"flag: expected a boolean"),
    ("name", 3, r"name: expected a string, got integer 3"),
    ("kwargs", [1], r"kwargs: expected a table"),
])
def test_scalar_values_are_checked_against_the_annotation(key, value, expected):
    with pytest.raises(ConfigError, match=expected):
        from_dict(Typed, {key: value}, "Typed")


def test_every_problem_is_reported_with_suggestions():
    with pytest.raises(ConfigError) as err:
        from_dict(Typed, {"lrr": 1.0, "stpes": 3, "name": 5})
    text = str(err.value)
    assert "unknown key 'lrr' (did you mean 'lr'?)" in text
    assert "unknown key 'stpes' (did you mean 'steps'?)" in text
    assert "name: expected a string" in text


def test_none_survives_a_dump_load_round_trip():
    import dataclasses

    cfg = Typed(note=None, kwargs={"channels": 8})
    text = dump_toml(dataclasses.asdict(cfg))
    assert "# note = None" in text
    assert from_dict(Typed, tomllib.loads(text)) == cfg
    set_note = Typed(note="hello")
    assert from_dict(Typed, tomllib.loads(dump_toml(dataclasses.asdict(set_note)))) == set_note


def test_set_overrides_parse_toml_and_keep_bare_words_as_strings():
    from lrfr.config import apply_overrides

    data = apply_overrides({"optim": {"lr": 0.1}}, ["optim.lr=0.5", "run.out=runs/x", "model.kwargs={channels = 4}"])
    assert data == {"optim": {"lr": 0.5}, "run": {"out": "runs/x"}, "model": {"kwargs": {"channels": 4}}}
    with pytest.raises(ConfigError, match="--set expects SECTION.KEY=VALUE"):
        apply_overrides({}, ["optim.lr"])
    with pytest.raises(ConfigError, match="'optim' is a value, not a section"):
        apply_overrides({"optim": 3}, ["optim.lr=1"])
