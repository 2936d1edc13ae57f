import dataclasses
from dataclasses import dataclass, field

import pytest

from lrfr.config import ConfigError, bounded, dump_toml, from_dict, load_config, load_toml, tomllib


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


# --- bounds, shared sections (lrfr.config.bounded / section, lrfr.engine.sections) ------------------------

@dataclasses.dataclass
class Bounded:
    steps: int = bounded(10, ge=1)
    rate: float = bounded(0.5, gt=0, le=1)
    betas: list = bounded(factory=lambda: [0.9, 0.99], ge=0, lt=1)
    mode: str = bounded("a", choices=("a", "b"))


def test_bounds_report_every_value_with_its_key_and_range():
    assert from_dict(Bounded, {"steps": 1, "rate": 1.0, "betas": [0.0, 0.5], "mode": "b"}) == Bounded(1, 1.0, [0.0, 0.5], "b")
    with pytest.raises(ConfigError) as err:
        from_dict(Bounded, {"steps": 0, "rate": 0.0, "betas": [0.9, 1.0], "mode": "c"}, "f.toml")
    lines = str(err.value).splitlines()
    assert lines == ["f.toml.steps = 0 is out of range: expected >= 1",
                     "f.toml.rate = 0.0 is out of range: expected in (0, 1]",
                     "f.toml.betas = [0.9, 1.0] is out of range: expected in [0, 1) (each item)",
                     "f.toml.mode = 'c' is not allowed: expected one of 'a', 'b'"]
    with pytest.raises(ValueError, match="the default 0 is not >= 1"):
        bounded(0, ge=1)  # a field's own default must satisfy its bound


def test_bounds_of_a_config_built_in_code():
    from lrfr.config import bound_problems, check_bounds

    assert bound_problems(Bounded()) == []
    with pytest.raises(ConfigError, match=r"cfg\.steps = -5 is out of range"):
        check_bounds(Bounded(steps=-5), "cfg")


def test_a_section_takes_the_recipes_defaults_for_keys_a_file_leaves_out():
    from lrfr.recipes.recognizer.config import RecognizerPipeline

    cfg = from_dict(RecognizerPipeline, {"optim": {"lr": 0.05}})
    assert cfg.optim.lr == 0.05 and cfg.optim.type == "sgd" and cfg.optim.milestones == [16_000, 24_000]
    a, b = RecognizerPipeline(), RecognizerPipeline()
    a.optim.milestones.append(1)  # defaults are copied, never shared between configs
    assert b.optim.milestones == [16_000, 24_000]


def _optimizer_sections(cfg) -> dict:
    from lrfr.engine.sections import OptimConfig

    return {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg) if isinstance(getattr(cfg, f.name), OptimConfig)}


def test_every_recipe_config_accepts_the_shared_optimizer_and_run_keys():
    """One optimizer section and one run section: every recipe's config takes all their keys, with effect."""
    from lrfr.engine.sections import OptimConfig, RunConfig
    from lrfr.recipes import RECIPE_REGISTRY, known_kinds

    optim = {"type": "adamw", "lr": 0.003, "momentum": 0.5, "betas": [0.8, 0.9], "weight_decay": 0.01,
             "batch_size": 3, "iterations": 7, "milestones": [5], "lr_decay": 0.5}
    run = {"out": "runs/x", "seed": 3, "device": "cpu", "checkpoint_every": 2, "log_every": 1, "threads": 1,
           "weights_dtype": "float16", "precision": "bf16", "channels_last": True, "compile": False}
    assert set(optim) == {f.name for f in dataclasses.fields(OptimConfig)}
    assert set(run) == {f.name for f in dataclasses.fields(RunConfig)}
    for kind in known_kinds():
        cls = RECIPE_REGISTRY.get(kind).config
        sections = _optimizer_sections(cls())
        assert sections, f"{kind}: no optimizer section"
        cfg = from_dict(cls, {**{name: dict(optim) for name in sections}, "run": dict(run)}, kind)
        assert dataclasses.asdict(cfg.run) == run, kind
        for name in sections:
            got = dataclasses.asdict(getattr(cfg, name))
            assert {k: got[k] for k in optim} == optim, (kind, name)


def test_pfsr_landmark_and_cface_sections_are_the_shared_ones():
    """No recipe keeps a private copy of a shared section (the four copies of [optim] and [run] are gone)."""
    from lrfr.engine.sections import DataConfig, FaceSource, OptimConfig, RunConfig
    from lrfr.recipes import RECIPE_REGISTRY, known_kinds

    for kind in known_kinds():
        cfg = RECIPE_REGISTRY.get(kind).config()
        assert type(cfg.run) is RunConfig, kind
        assert isinstance(cfg.data, (DataConfig, FaceSource)), kind
        for name, sec in _optimizer_sections(cfg).items():
            shared = {f.name for f in dataclasses.fields(OptimConfig)}
            own = [f.name for f in dataclasses.fields(type(sec)) if f.name not in shared]
            # what a recipe adds to the shared optimizer section is named here, so that adding more is a choice
            assert set(own) <= {"d_lr", "ema_decay", "epochs", "decay_every", "gamma1", "gamma2", "margin",
                                "recognizer_lr", "recognizer_momentum", "recognizer_weight_decay", "fr_images"}, (kind, own)


def test_loss_names_in_the_configs_are_the_registered_ones():
    from lrfr.losses import LOSS_REGISTRY
    from lrfr.losses.adversarial import GAN_KINDS
    from lrfr.recipes.sr.config import GAN_LOSSES, PIXEL_LOSSES

    assert set(PIXEL_LOSSES) <= set(LOSS_REGISTRY.names()) and tuple(GAN_LOSSES) == tuple(GAN_KINDS)


def test_lrfr_has_no_train_alias_and_star_import_loads_no_recipe():
    import importlib
    import subprocess
    import sys

    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("lrfr.train")
    code = "from lrfr import *; import sys; print(sorted(m for m in sys.modules if m.startswith('lrfr.recipes')))"
    out = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
