"""A study: the front-ends, seeds, recognizers and protocols of one results table, as a TOML file.

``lrfr results COMMAND STUDY.toml`` (split, export, evaluate, table, grid, failures) reads one of these; the
real-face table of ``results/`` is ``results/real-8x.toml``. Paths are relative to the study file;
``{shared}`` stands for the shared data folder (``$LRFR_SHARED``, else ``../shared`` beside the
repository that holds the study). Every key::

    title = "Real faces at 8×"         # the table's heading
    scale = 8                           # the degradation factor of every row
    setting = "both_low"                # or "cross" (first image of each pair / gallery at HR)
    degrade = "bicubic"                 # the HR → LR chain: a name or a spec (lrfr.data.degradations)
    identity = false                    # also the identity_similarity of every row (lrfr.evaluate(identity=True))
    stem = "real-8x"                    # → STEM.csv, STEM.md, STEM.png beside the study
    weights = "weights"                 # where `export` copies model files (and training.json)
    histories = "histories"             # where `export` copies training histories
    work = "../runs/real8x"             # part files (one per scored row: resumable) and caches
    copy_into = "../docs/real-faces.md" # optional: a page that shows the tables between two markers (and
                                        # `failures`' table, where it has that table's two markers)
    headline_into = "../README.md"      # optional: a page that shows the first section only
    grid = "lfw"                        # optional: STEM.png shows faces of this data root through each front-end

    [split]                             # optional: the identity split the training runs use
    data = "{shared}/data/celeba-train-112x96"
    heldout = 41
    seed = 0
    file = "celeba_split.txt"
    out = "../runs/celeba-split"

    [data]                              # named data roots
    lfw = "{shared}/data/lfw"
    celeba = "../runs/celeba-split/heldout"

    [subset]                            # optional: a fixed pair subset of a data root, to pin model files
    of = "lfw"
    per_fold = 30

    [scorers.mobilefacenet]             # the recognizers that score; the first is the main one
    arch = "mobilefacenet"
    weights = "{shared}/weights/mobilefacenet_casia_068.ckpt"
    protocols = { lfw = ["blufr", "lfw"], celeba = ["celeba"] }   # data name → protocols

    [[front_end]]                       # one per (row, seed); rows with several seeds are averaged
    label = "srgan"
    seed = 0
    model = "weights/srgan.pt"          # "hr", a registry name ("bicubic"), "packaged:NAME", or a model file
    run = "../runs/srgan_celeba"        # optional: the run folder `export` copies from ...
    run_file = "generator.pt"           # ... this file of it ...
    stages = ["stage1"]                 # ... counting these C-Face stages only (default: all)
    probe = "weights/student.pt"        # optional: the LR side's recognizer (lrfr evaluate --probe-weights)
    setting = "cross"                   # optional: this row's setting, where it is not the study's

    [[section]]                         # the tables of STEM.md, in order
    title = ""                          # a "## " heading ("" = none)
    kind = "main"                       # "main", "gap" (share of the bicubic → HR gap), "accuracy", "paired"
    rows = ["hr", "bicubic", "srgan"]   # labels, in order
    text = "..."                        # optional prose above the table ({scorer}: the scorer, named)
    scorer = ""                         # "" = the first scorer
    metrics = ["lfw:accuracy_mean:LFW accuracy"]   # gap: protocol:column:heading; accuracy: data:protocol:heading
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from lrfr.config import ConfigError, bounded, from_dict, load_toml
from lrfr.recipes.sr.config import degradation_spec


@dataclass
class SplitSpec:
    data: str = ""
    heldout: int = bounded(41, ge=1)
    seed: int = bounded(0, ge=0)
    file: str = "split.txt"
    out: str = "split"


@dataclass
class SubsetSpec:
    of: str = ""
    per_fold: int = bounded(30, ge=1)


@dataclass
class ScorerSpec:
    arch: str = ""
    weights: str = ""
    protocols: dict[str, list[str]] = field(default_factory=dict)
    #: optional: the run folder (and its file) `export` copies ``weights`` from (a recognizer trained for the study)
    run: str = ""
    run_file: str = ""


@dataclass
class FrontEndSpec:
    label: str = ""
    model: str = ""
    seed: int = bounded(0, ge=0)
    run: str = ""
    run_file: str = ""
    stages: list[str] = field(default_factory=list)
    #: optional: a recognizer file for the faces that went LR → SR (``lrfr.evaluate``'s ``probe_weights``:
    #: a distilled student, C-Face's fine-tuned CNN^R); the scorer embeds the HR side
    probe: str = ""
    probe_arch: str = ""
    #: "" = the study's setting; "cross" / "both_low" for this row only
    setting: str = bounded("", choices=("", "both_low", "cross"))


#: the kinds of table a section shows (lrfr.results.tables)
SECTION_KINDS = ("main", "gap", "accuracy", "paired")


@dataclass
class SectionSpec:
    title: str = ""
    #: "main" (every headline column), "gap" (the share of the bicubic → HR gap closed, per ``metrics``),
    #: "accuracy" (10-fold accuracy on each data root of the scorer), "paired" (``rows`` as "A:B" pairs: A
    #: against B over the folds of every seed both have, a paired t-test; ``metrics``: "data:protocol")
    kind: str = bounded("main", choices=SECTION_KINDS)
    rows: list[str] = field(default_factory=list)
    #: prose above the table; ``{scorer}`` is replaced by the scorer's name, file and sha256
    text: str = ""
    #: "" = the main (first) scorer
    scorer: str = ""
    #: gap sections: "protocol:column:heading" each (default: LFW accuracy, BLUFR VR and DIR, CelebA accuracy);
    #: accuracy sections: "data:protocol:heading[:column]" each (default: LFW and held-out CelebA accuracy;
    #: column: another column of the rows, e.g. identity_similarity, shown × 100)
    metrics: list[str] = field(default_factory=list)


@dataclass
class StudySpec:
    title: str = ""
    scale: int = bounded(8, ge=1)
    #: the evaluation setting and degradation of every row (``lrfr.evaluate``'s)
    setting: str = bounded("both_low", choices=("both_low", "cross"))
    degrade: str = bounded("bicubic", check=degradation_spec)
    #: also report each row's identity_similarity (lrfr.evaluate's ``identity``)
    identity: bool = False
    stem: str = "results"
    weights: str = "weights"
    histories: str = "histories"
    work: str = "work"
    copy_into: str = ""
    #: a page (the README) that shows the first section only, between its own two markers
    headline_into: str = ""
    #: the data root whose faces `lrfr results grid` shows (HR / LR / bicubic / each front-end); "" = no grid
    grid: str = ""
    split: SplitSpec | None = None
    data: dict[str, str] = field(default_factory=dict)
    subset: SubsetSpec | None = None
    scorers: dict[str, ScorerSpec] = field(default_factory=dict)
    front_end: list[FrontEndSpec] = field(default_factory=list)
    section: list[SectionSpec] = field(default_factory=list)


def project_root(near: Path) -> Path:
    """The checkout that holds ``near`` (the nearest folder with ``.git`` or ``pyproject.toml``), else its folder."""
    for parent in [near, *near.parents]:
        if (parent / ".git").exists() or (parent / "pyproject.toml").is_file():
            return parent
    return near


def shared_folder(near: Path) -> Path:
    """``$LRFR_SHARED``, else the ``shared`` folder beside the checkout that holds ``near``."""
    if os.environ.get("LRFR_SHARED"):
        return Path(os.environ["LRFR_SHARED"])
    return project_root(near).parent / "shared"


class Study:
    """A loaded study: its spec, with every path resolved (see the module docstring)."""

    def __init__(self, path: str | Path):
        self.path = Path(path).resolve()
        data = load_toml(self.path)
        for name in ("front_end", "section"):  # a single [front_end] table is one entry
            if isinstance(data.get(name), dict):
                data[name] = [data[name]]
        self.spec: StudySpec = from_dict(StudySpec, data, str(path))
        self.root = self.path.parent
        self.shared = shared_folder(self.root)
        #: the study's path as the commands in its tables show it (from its checkout's root)
        self.name = str(self.path.relative_to(project_root(self.root)))
        self._check()

    def resolve(self, text: str) -> Path:
        """A path of the study file: ``{shared}`` expanded, relative paths taken from the study's folder."""
        p = Path(text.replace("{shared}", str(self.shared)))
        return p if p.is_absolute() else self.root / p

    def model(self, fe: FrontEndSpec) -> str | Path:
        """What ``lrfr.evaluate`` is handed for a front-end: a name, ``packaged:NAME``, or the resolved file."""
        text = fe.model
        if text in ("hr", "") or text.startswith("packaged:") or "/" not in text and not text.endswith(".pt"):
            return text or "hr"
        return self.resolve(text)

    @property
    def labels(self) -> list[str]:
        """Row labels in the order of their first front-end entry."""
        return list(dict.fromkeys(fe.label for fe in self.spec.front_end))

    def entries(self, label: str) -> list[FrontEndSpec]:
        return [fe for fe in self.spec.front_end if fe.label == label]

    @property
    def main_scorer(self) -> str:
        return next(iter(self.spec.scorers))

    def data_root(self, name: str) -> Path:
        if name not in self.spec.data:
            raise ConfigError(f"{self.path}: no data root named {name!r} in [data] (known: {', '.join(self.spec.data)})")
        return self.resolve(self.spec.data[name])

    def out(self, suffix: str) -> Path:
        """``STEM.csv``, ``STEM.md``, ``STEM.png`` beside the study."""
        return self.root / f"{self.spec.stem}{suffix}"

    def _check(self) -> None:
        s, problems = self.spec, []
        if not s.scorers:
            problems.append("no [scorers.NAME] section: name the recognizer that scores")
        for name, scorer in s.scorers.items():
            for data_name in scorer.protocols:
                if data_name not in s.data and not (s.subset and data_name == subset_name(s.subset)):
                    problems.append(f"scorers.{name}.protocols names data {data_name!r}, not in [data]")
        if s.grid and s.grid not in s.data:
            problems.append(f"grid = {s.grid!r} is not in [data]")
        if s.subset is not None and s.subset.of not in s.data:
            problems.append(f"subset.of = {s.subset.of!r} is not in [data]")
        seen = set()
        for fe in s.front_end:
            if not fe.label:
                problems.append("a [[front_end]] without a label")
            if (fe.label, fe.seed) in seen:
                problems.append(f"front_end {fe.label!r} seed {fe.seed} is listed twice")
            seen.add((fe.label, fe.seed))
        labels = set(self.labels)
        for sec in s.section:
            named = [x for r in sec.rows for x in (r.split(":") if sec.kind == "paired" else [r])]
            problems += [f"section {sec.title or sec.kind!r} names {r!r}, which no [[front_end]] has"
                         for r in named if r not in labels]
            if sec.scorer and sec.scorer not in s.scorers:
                problems.append(f"section {sec.title or sec.kind!r} names scorer {sec.scorer!r}, not in [scorers]")
        if problems:
            raise ConfigError(f"{self.path}: " + "; ".join(problems))


def subset_name(subset: SubsetSpec) -> str:
    """The data name of a pair subset: ``lfw_subset600`` for 30 same + 30 different pairs of LFW's 10 folds."""
    return f"{subset.of}_subset{subset.per_fold * 20}"
