"""``lrfr.evaluate``: the one entry point from an SR model to a table of protocol numbers.

    import lrfr
    table = lrfr.evaluate("bicubic", protocol=["lfw", "blufr"], data="/data/lfw",
                          recognizer="mobilefacenet", weights="mobilefacenet_casia_068.ckpt", scale=8)

One call degrades the HR test images, super-resolves them, embeds them with the recognizer,
runs each protocol on the features, and reports PSNR/SSIM of SR vs HR beside the protocol's
numbers. Every convention a protocol used is in ``table.attrs["conventions"]``; curves (ROC,
CMC) and per-fold tables in ``table.attrs["results"]``; where the time went, per (SR model,
protocol), in ``table.attrs["seconds"]`` (``read``, ``degrade``, ``sr``, ``quality``, ``embed``:
:attr:`lrfr.feature_store.Extracted.seconds`, zero for features the cache already held; ``protocol``:
the protocol's own run on the features).

Nothing is dropped silently: an image of a protocol that cannot be read (or has another size than
the recognizer's input) stops the evaluation with an error naming it, unless
``on_bad_image="skip"``; then the table gains the columns ``n_images_skipped`` and
``n_pairs_removed``, and ``table.attrs["skipped"][protocol]`` lists the images (path, reason) and
the pairs (or, for BLUFR, per-trial counts) they removed.

Settings. ``setting="both_low"`` (default; every paper's table): every image is degraded and
super-resolved. ``setting="cross"`` (the surveillance case: a camera's tiny face against a
watch-list of HR photos): only the probes are — the first image of each verification pair and
the BLUFR gallery stay at HR, the second image of each pair and the BLUFR probes go LR → SR.
BLUFR's all-pairs verification has no first and second image, so in the cross setting its
``vr@...`` columns are NaN (the cross-resolution verification figure is LFW's or CelebA's).

Pinned results. Every row names what produced it: ``recognizer`` and ``recognizer_sha256``,
``sr`` and ``sr_sha256`` (a model file's sha256; ``"module:<digest>"`` for an ``nn.Module``; the
name itself for a parameter-free front-end such as ``"bicubic"``), ``degrade`` (the canonical
degradation spec, :mod:`lrfr.data.degradations`; ``"none"`` for ``"hr"``) and ``degrade_seed``,
``setting``, ``protocol_config_sha256`` (of the protocol's resolved config) and
``lrfr_version``; ``table.attrs["pinned"]`` keeps the same. The same inputs give a bit-identical
table.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from lrfr.devices import resolve_device
from lrfr.errors import LrfrError
from lrfr.weights import DEFAULT_RECOGNIZER, packaged_path
from lrfr.embedding import HR, ON_BAD_IMAGE, extract_features, model_key, sr_name
from lrfr.feature_store import Extracted
from lrfr.fingerprint import module_digest

if TYPE_CHECKING:
    from lrfr.protocols import Protocol, ProtocolData, ProtocolResult

#: ``both_low``: gallery and probes (both images of a pair) degraded and super-resolved;
#: ``cross``: gallery / first image at HR, probes / second image LR → SR
SETTINGS = ("both_low", "cross")

def resolve_recognizer(recognizer: nn.Module | str | None, weights: str | Path | None) -> tuple[nn.Module, str]:
    """(model, cache key). ``None`` with no weights → the packaged SynthFaces sphere20a."""
    from lrfr import recognition

    if isinstance(recognizer, nn.Module):
        return recognizer, model_key(recognizer, getattr(recognizer, "arch", None))
    if recognizer is None and weights is None:
        weights = packaged_path(DEFAULT_RECOGNIZER)
    if weights is None:
        raise ValueError(f"recognizer {recognizer!r} needs weights=PATH (lrfr downloads nothing at run time)")
    model = recognition.load(recognizer, weights=weights)
    key = f"{recognizer or 'auto'}:{Path(weights).resolve()}:{Path(weights).stat().st_mtime_ns}"
    return model, key


def recognizer_sha256(recognizer: nn.Module | str | None, weights: str | Path | None) -> str:
    """The sha256 of the recognizer's weight file (the packaged one when neither is given), or
    ``module:<digest>`` for a recognizer passed as a module."""
    from lrfr.fingerprint import file_sha256

    if isinstance(recognizer, nn.Module):
        return f"module:{module_digest(recognizer)}"
    return file_sha256(weights if weights is not None else packaged_path(DEFAULT_RECOGNIZER))


def sr_sha256(sr: object) -> str:
    """What pins an SR front-end: its model file's sha256, ``module:<digest>`` for a module, and the
    name itself for ``"hr"`` and parameter-free registry front-ends (``"bicubic"``)."""
    from lrfr.fingerprint import file_sha256

    if isinstance(sr, nn.Module):
        return f"module:{module_digest(sr)}"
    if isinstance(sr, (str, Path)) and Path(str(sr)).is_file():
        return file_sha256(sr)
    return str(sr) if isinstance(sr, (str, Path)) else f"callable:{getattr(sr, '__qualname__', type(sr).__name__)}"


def protocol_config_sha256(proto) -> str:
    """sha256 of the protocol's resolved config (every key but the progress switch), as sorted JSON."""
    import dataclasses
    import hashlib
    import json

    cfg = {k: v for k, v in dataclasses.asdict(proto.config).items() if k != "progress"}
    return hashlib.sha256(json.dumps(cfg, sort_keys=True, default=str).encode()).hexdigest()


def cross_resolution_data(data):
    """``(data', n_hr)``: ``data`` re-indexed for the cross setting. ``data'.image_paths`` lists the
    images seen at HR (first image of each pair; BLUFR gallery) and then those seen LR → SR (second
    image of each pair; BLUFR probes); an image used both ways appears twice. ``n_hr``: how many
    of the paths are HR. Each BLUFR trial's test set becomes its gallery (HR) plus probes (LR)."""
    import dataclasses

    paths = list(data.image_paths)

    def positions(used, offset):
        pos = np.full(len(paths), -1, np.int64)
        pos[used] = offset + np.arange(len(used))
        return pos

    if data.has_pairs:
        hr, lr = np.unique(data.pair_index[:, 0]), np.unique(data.pair_index[:, 1])
        at_hr, at_lr = positions(hr, 0), positions(lr, len(hr))
        new = dataclasses.replace(data, image_paths=[paths[i] for i in hr] + [paths[i] for i in lr],
                                  pair_index=np.stack([at_hr[data.pair_index[:, 0]], at_lr[data.pair_index[:, 1]]], 1))
    elif data.has_gallery:
        hr, lr = np.unique(np.concatenate(data.gal_index)), np.unique(np.concatenate(data.prob_index))
        at_hr, at_lr = positions(hr, 0), positions(lr, len(hr))
        gal = [at_hr[g] for g in data.gal_index]
        prob = [at_lr[p] for p in data.prob_index]
        new = dataclasses.replace(data, image_paths=[paths[i] for i in hr] + [paths[i] for i in lr],
                                  labels=np.concatenate([data.labels[hr], data.labels[lr]]),
                                  gal_index=gal, prob_index=prob,
                                  test_index=[np.concatenate([g, p]) for g, p in zip(gal, prob)])
    else:
        raise LrfrError(f"{data.protocol}: the cross-resolution setting needs verification pairs or a gallery "
                        f"and probes; {type(data).__name__} has neither")
    new.conventions = dict(data.conventions, setting="cross: first image of each pair / gallery at HR, "
                           "second image / probes degraded and super-resolved")
    return new, len(hr)


def _join(a: Extracted, b: Extracted) -> Extracted:
    if not len(a.features):
        return b
    return Extracted(np.concatenate([a.features, b.features]), np.concatenate([a.psnr, b.psnr]),
                     np.concatenate([a.ssim, b.ssim]), {**a.skipped, **b.skipped},
                     {k: a.seconds.get(k, 0.0) + b.seconds.get(k, 0.0) for k in {**a.seconds, **b.seconds}},
                     np.concatenate([a.check, b.check]))


@dataclass
class RecognizerPair:
    """The recognizer of the HR side (``reference``) and the one of the LR side after the front-end
    (``probe``; the reference itself unless a probe recognizer is given), each with its cache key and sha256."""

    reference: nn.Module
    reference_key: str
    reference_sha256: str
    probe: nn.Module
    probe_key: str
    probe_sha256: str

    @property
    def asymmetric(self) -> bool:
        return self.probe is not self.reference

    def names(self, hr_row: bool = False) -> dict[str, str]:
        """The row columns that name both recognizers (an ``"hr"`` row's probes are the reference's)."""
        probe, sha = (self.reference, self.reference_sha256) if hr_row else (self.probe, self.probe_sha256)
        return {"recognizer": getattr(self.reference, "arch", type(self.reference).__name__),
                "recognizer_sha256": self.reference_sha256,
                "probe_recognizer": getattr(probe, "arch", type(probe).__name__), "probe_recognizer_sha256": sha}


def resolve_recognizers(recognizer, weights, probe_recognizer=None, probe_weights=None) -> RecognizerPair:
    """Both recognizers of an evaluation (``probe_*`` not given: the reference embeds both sides). A probe
    recognizer must take the reference's input size, which is the size the front-ends restore."""
    from lrfr.weights import PACKAGED
    from lrfr.weights import resolve as resolve_weights

    weights, probe_weights = ((resolve_weights(w) if isinstance(w, str) and w.startswith(PACKAGED) else w)
                              for w in (weights, probe_weights))
    ref, ref_key = resolve_recognizer(recognizer, weights)
    ref_sha = recognizer_sha256(recognizer, weights)
    if probe_recognizer is None and probe_weights is None:
        return RecognizerPair(ref, ref_key, ref_sha, ref, ref_key, ref_sha)
    if not isinstance(probe_recognizer, nn.Module) and probe_weights is None:
        raise ValueError(f"probe_recognizer {probe_recognizer!r} needs probe_weights=PATH (lrfr downloads nothing at run time)")
    probe, probe_key = resolve_recognizer(probe_recognizer, probe_weights)
    want, got = tuple(getattr(ref, "input_size", ())), tuple(getattr(probe, "input_size", ()))
    if want != got:
        raise ValueError(f"the probe recognizer ({getattr(probe, 'arch', type(probe).__name__)}) takes "
                         f"{'×'.join(map(str, got))} faces, but the front-ends output {'×'.join(map(str, want))} "
                         f"(the recognizer's input size); use a probe recognizer of that input size")
    return RecognizerPair(ref, ref_key, ref_sha, probe, probe_key, recognizer_sha256(probe_recognizer, probe_weights))


def setting_features(data, n_hr: int, sr, recognizers: RecognizerPair, **extract) -> Extracted:
    """Features of ``data.image_paths``: the first ``n_hr`` at HR (the cross setting's gallery /
    first images, see :func:`cross_resolution_data`) embedded by the reference recognizer, the rest
    degraded and super-resolved by ``sr`` and embedded by the probe recognizer (the reference for the
    ``"hr"`` front-end, which degrades nothing); ``extract``: the keyword arguments of
    :func:`lrfr.embedding.extract_features`."""
    r = recognizers
    low_side = (r.reference, r.reference_key) if isinstance(sr, str) and sr == HR else (r.probe, r.probe_key)
    ex = extract_features(data.image_paths[n_hr:], sr, low_side[0], recognizer_key=low_side[1], **extract)
    if n_hr:
        ex = _join(extract_features(data.image_paths[:n_hr], HR, r.reference, recognizer_key=r.reference_key,
                                    **extract), ex)
    return ex


def identity_similarity(data, n_hr: int, sr, recognizers: RecognizerPair, features: np.ndarray, **extract) -> float:
    """Mean over the LR → SR images of the cosine between each one's features and those of its own HR face
    (the reference's, flip-fused as the protocol fuses them): how much of a face's identity survives the
    degradation and the front-end, image by image (1 − this is C-Face's L_SI, eq. 4, on the whole test set).
    NaN for ``"hr"`` and when the two recognizers' embeddings differ in size."""
    if isinstance(sr, str) and sr == HR:
        return float("nan")
    low = features[n_hr:]
    hr = extract_features(data.image_paths[n_hr:], HR, recognizers.reference, recognizer_key=recognizers.reference_key,
                          **extract).features
    if hr.shape != low.shape:
        return float("nan")
    a = low / np.linalg.norm(low, axis=1, keepdims=True)
    b = hr / np.linalg.norm(hr, axis=1, keepdims=True)
    return float(np.nanmean((a * b).sum(1)))


def _blank_cross_verification(result) -> None:
    """BLUFR's all-pairs verification is not a cross-resolution figure: its columns become NaN."""
    for k in result.summary:
        if k.startswith("vr@"):
            result.summary[k] = float("nan")
    for col in result.per_fold.columns:
        if col.startswith("vr@"):
            result.per_fold[col] = np.nan
    result.curves.pop("roc", None)


def default_synth_data(workdir: Path | None = None, progress: bool = True) -> Path:
    """The held-out SynthFaces test set (identities never used in training), exported once."""
    from lrfr.data.synth import SynthFaces

    root = Path(workdir or Path.home() / ".cache" / "lrfr") / "synthfaces-test"
    if not (root / "pairs.txt").is_file():
        SynthFaces(**SYNTH_TEST).export(root, progress=progress)
    return root


#: the SynthFaces evaluation set: identities from 1,000,000 on, disjoint from any training range
SYNTH_TEST = dict(n_identities=60, images_per_identity=10, seed=2024, identity_offset=1_000_000)


def _is_synthfaces(root: Path) -> bool:
    """Whether ``root`` is a SynthFaces export (its README says so; :meth:`lrfr.data.synth.SynthFaces.export`)."""
    readme = root / "README.txt"
    return readme.is_file() and readme.read_text(errors="replace").startswith("SynthFaces export")


#: protocols scored on a gallery of a user's folders (lrfr.watchlist): native LR probes, no pairs
GALLERY_PROTOCOLS = ("watchlist", "tinyface")


def gallery_protocol_table(srs: list, protocols: list[str], root: Path, *, recognizer, weights, probe_recognizer,
                           probe_weights, scale, degrade, degrade_seed, device, batch_size, on_bad_image,
                           progress, backend="torch") -> pd.DataFrame:
    """:func:`evaluate`'s rows for the gallery protocols (:mod:`lrfr.watchlist`): one per (front-end, protocol),
    every front-end through one :class:`lrfr.probe.ProbePipeline` with the same recognizers. PSNR/SSIM are not
    computed (native LR probes have no HR reference): the ``quality`` column says so."""
    from lrfr.probe import ProbePipeline
    from lrfr.watchlist import evaluate_tinyface, evaluate_watchlist

    rows, results = [], {}
    for sr in srs:
        if isinstance(sr, str) and sr == HR:
            raise ValueError("the gallery protocols search the probes as they are on disk; 'hr' degrades nothing and "
                             "adds nothing there: use 'bicubic' (the recognizer then sees each probe resized)")
        pipe = ProbePipeline.create(front_end=sr, recognizer=recognizer, weights=weights,
                                    probe_recognizer=probe_recognizer, probe_weights=probe_weights, device=device,
                                    batch_size=batch_size, backend=backend)
        for name in protocols:
            if name == "watchlist":
                res = evaluate_watchlist(root, pipe, scale=scale, degrade=degrade, seed=degrade_seed,
                                         on_bad_image=on_bad_image, progress=progress)
            else:
                res = evaluate_tinyface(root, pipe, on_bad_image=on_bad_image, progress=progress)
            fp = pipe.fingerprint()
            rows.append({"sr": pipe.front_end.name, "protocol": name, "setting": "gallery: enrolment HR, probes LR"
                         if name == "watchlist" else "gallery and probes native LR", "probes": res.probe_side,
                         "recognizer": fp["recognizer"], "recognizer_sha256": fp["weights_sha256"],
                         "probe_recognizer": fp["probe_recognizer"], "probe_recognizer_sha256": fp["probe_weights_sha256"],
                         "sr_sha256": fp["front_end_sha256"], "lrfr_version": lrfr_version(),
                         "psnr": np.nan, "ssim": np.nan, "quality": "not computed: no HR reference for native LR probes",
                         "backend": backend,
                         "n_images_skipped": len(res.skipped), **res.summary})
            results[(pipe.front_end.name, name)] = res
    table = pd.DataFrame(rows)
    table.attrs["results"] = results
    table.attrs["data"] = str(root)
    return table


def lrfr_version() -> str:
    import lrfr

    return lrfr.__version__


def _as_list(x) -> list:
    if x is None:
        return []
    if isinstance(x, (str, nn.Module)) or not isinstance(x, Iterable):
        return [x]
    return list(x)


def _checked_inputs(on_bad_image: str, setting: str, degrade: str, backend: str, device, data, workdir, progress: bool,
                    recognizer, weights) -> tuple[str, torch.device, Path, Path | None]:
    """The checks every :func:`evaluate` call makes first, gallery protocols included (apart from
    :func:`plan_evaluation` because the gallery protocols branch off between the two): ``(spec, device,
    root, workdir)``, the degradation spec canonical and the data root found (the SynthFaces test set,
    exported, when ``data`` is ``None``)."""
    from lrfr.data.degradations import canonical

    if on_bad_image not in ON_BAD_IMAGE:
        raise ValueError(f"on_bad_image must be one of {', '.join(ON_BAD_IMAGE)}; got {on_bad_image!r}")
    if setting not in SETTINGS:
        raise ValueError(f"setting must be one of {', '.join(SETTINGS)}; got {setting!r}")
    spec = canonical(degrade)
    if backend == "onnxruntime":  # before any image is read
        from lrfr.recognition.onnx_backend import require_onnxruntime

        require_onnxruntime()
    device = resolve_device(device)
    workdir = Path(workdir) if workdir is not None else None
    root = Path(data) if data is not None else default_synth_data(workdir, progress)
    if not root.exists():
        raise FileNotFoundError(f"data root not found: {root}")
    if data is not None and recognizer is None and weights is None and not _is_synthfaces(root):
        import warnings

        from lrfr.errors import LrfrWarning

        # stacklevel 3: the warning names the line that called evaluate
        warnings.warn(f"scoring {root} with the packaged SynthFaces recognizer ({DEFAULT_RECOGNIZER}: trained on "
                      "synthetic faces, meaningful on SynthFaces only); for real faces pass recognizer= and weights= "
                      "(lrfr evaluate --recognizer mobilefacenet --weights FILE)", LrfrWarning, stacklevel=3)
    return spec, device, root, workdir


def _is_gallery_call(names: list) -> bool:
    """Whether ``names`` are gallery protocols (:data:`GALLERY_PROTOCOLS`), which a call may not mix with others."""
    if not any(isinstance(p, str) and p in GALLERY_PROTOCOLS for p in names):
        return False
    if not all(isinstance(p, str) and p in GALLERY_PROTOCOLS for p in names):
        raise ValueError(f"evaluate: the gallery protocols ({', '.join(GALLERY_PROTOCOLS)}) read their own folder "
                         f"layout; evaluate them in a call of their own (got {names})")
    return True


@dataclass(frozen=True)
class EvaluationPlan:
    """What an :func:`evaluate` call resolved before it scores anything: the same for every (protocol,
    front-end) cell. Each setting is kept once; :meth:`extract_settings` and :meth:`pinned` are read from them."""

    root: Path
    workdir: Path | None
    spec: str
    recognizers: RecognizerPair
    srs: tuple
    protocols: tuple
    setting: str
    scale: int
    degrade_seed: int
    precision: str
    backend: str
    on_bad_image: str
    identity: bool
    fast: bool
    n_pairs: int | None
    pairs_seed: int
    batch_size: int
    device: torch.device
    progress: bool
    cache: bool
    feature_dir: str | Path | None
    lrfr_version: str

    def extract_settings(self, proto: Protocol) -> dict:
        """The keyword arguments of :func:`lrfr.embedding.extract_features` for ``proto``'s cells."""
        return dict(scale=self.scale, flip=proto.flip, degrade=self.spec, batch_size=self.batch_size,
                    device=self.device, progress=self.progress, cache=self.cache, on_bad_image=self.on_bad_image,
                    degrade_seed=self.degrade_seed, precision=self.precision, feature_dir=self.feature_dir,
                    backend=self.backend)

    def pinned(self) -> dict:
        """``table.attrs["pinned"]`` without the per-cell ``sr_sha256`` and ``protocol_config_sha256``."""
        return {"lrfr_version": self.lrfr_version, **self.recognizers.names(), "degrade": self.spec,
                "degrade_seed": int(self.degrade_seed), "setting": self.setting, "scale": self.scale,
                "embed_precision": self.precision}


def plan_evaluation(sr_model, names: list, *, spec: str, device: torch.device, root: Path, workdir: Path | None,
                    recognizer, weights, probe_recognizer, probe_weights, scale: int, batch_size: int, progress: bool,
                    cache: bool, on_bad_image: str, setting: str, degrade_seed: int, identity: bool, fast: bool,
                    feature_dir, backend: str, n_pairs: int | None, pairs_seed: int) -> EvaluationPlan:
    """The :class:`EvaluationPlan` of a call whose arguments :func:`_checked_inputs` passed (``spec``, ``device``,
    ``root``, ``workdir``: what it returned; the rest as :func:`evaluate` takes them): the recognizers loaded, the
    packaged front-ends found, the protocols configured, each with its progress bars under ``progress``."""
    from lrfr import protocols as protocol_registry
    from lrfr.weights import PACKAGED
    from lrfr.weights import resolve as resolve_weights

    recs = resolve_recognizers(recognizer, weights, probe_recognizer, probe_weights)
    srs = tuple(resolve_weights(s) if isinstance(s, str) and s.startswith(PACKAGED) else s
                for s in _as_list(sr_model)) or ("bicubic",)
    protos = tuple(protocol_registry.get(p) for p in names)
    if not protos:
        raise ValueError("evaluate: no protocol given")
    for proto in protos:  # one switch for every progress bar of the call
        proto.set_progress(progress)
    return EvaluationPlan(root, workdir, spec, recs, srs, protos, setting, scale, degrade_seed,
                          "bf16" if fast else "fp32", backend, on_bad_image, identity, fast, n_pairs, pairs_seed,
                          batch_size, device, progress, cache, feature_dir, lrfr_version())


def prepare_protocol(plan: EvaluationPlan, proto: Protocol) -> tuple[ProtocolData, int]:
    """``(data, n_hr)``: ``proto``'s data as each of its cells scores it, the plan's pairs subset taken and,
    in the cross setting, re-indexed (:func:`cross_resolution_data`; ``n_hr`` 0 otherwise)."""
    prepared = proto.prepare(plan.root, workdir=plan.workdir)
    if plan.n_pairs is not None:
        if not prepared.has_pairs:
            raise ValueError(f"n_pairs: {proto.name} has no pairs to take a subset of (pairs protocols: lfw, celeba)")
        prepared = prepared.subset(plan.n_pairs, plan.pairs_seed)
    if plan.setting == "cross":
        return cross_resolution_data(prepared)
    return prepared, 0


@dataclass(frozen=True)
class CellData:
    """What a cell's protocol scores: ``data`` without the images that could not be read
    (``on_bad_image="skip"``), their features and quality, and what leaving them out removed."""

    data: ProtocolData
    features: np.ndarray
    psnr: np.ndarray
    ssim: np.ndarray
    removed: dict


def leave_out_unread(proto: Protocol, prepared: ProtocolData, ex: Extracted) -> CellData:
    """``prepared`` and its features ``ex`` without the images ``ex`` skipped and whatever used them."""
    if not ex.skipped:
        return CellData(prepared, ex.features, ex.psnr, ex.ssim, {"n_pairs_removed": 0})
    # an image used at HR and LR in the cross setting is left out of both
    bad = [i for i, p in enumerate(prepared.image_paths) if str(Path(p)) in ex.skipped]
    data, removed = proto.without_images(prepared, bad)
    keep = np.ones(len(prepared.image_paths), bool)
    keep[bad] = False
    return CellData(data, ex.features[keep], ex.psnr[keep], ex.ssim[keep], removed)


@dataclass(frozen=True)
class CellScore:
    """One scored cell: its table row, the protocol's result, where the time went
    (``table.attrs["seconds"]``), and what was left out (``table.attrs["skipped"]``; ``None``: nothing)."""

    row: dict
    result: ProtocolResult
    seconds: dict
    skipped: dict | None


def score_cell(plan: EvaluationPlan, proto: Protocol, prepared: ProtocolData, n_hr: int, sr) -> CellScore:
    """One (protocol, front-end) cell: ``prepared`` embedded through ``sr`` (its first ``n_hr`` images at HR),
    the images that could not be read left out, the protocol run on the rest."""
    ex = setting_features(prepared, n_hr, sr, plan.recognizers, **plan.extract_settings(proto))
    kept = leave_out_unread(proto, prepared, ex)
    t_protocol = time.perf_counter()
    result = proto.run(kept.data, kept.features)
    seconds = {**ex.seconds, "protocol": time.perf_counter() - t_protocol}
    if plan.setting == "cross" and kept.data.has_gallery:
        _blank_cross_verification(result)
    skipped = None
    if ex.skipped:
        skipped = {"images": [{"path": p, "reason": r} for p, r in ex.skipped.items()], **kept.removed}
    return CellScore(build_row(plan, proto, prepared, n_hr, sr, ex, kept, result.summary), result, seconds, skipped)


def _finite_mean(x: np.ndarray) -> float:
    return float(np.nanmean(x)) if np.isfinite(x).any() else np.nan


def build_row(plan: EvaluationPlan, proto: Protocol, prepared: ProtocolData, n_hr: int, sr, ex: Extracted,
              kept: CellData, summary: dict) -> dict:
    """A cell's table row: what produced it (module doc, "Pinned results"), its images and their
    quality, the columns the call's options add, then the protocol's ``summary``."""
    is_hr = isinstance(sr, str) and sr == HR
    row = {
        "sr": sr_name(sr),
        "protocol": proto.name,
        "setting": plan.setting,
        "scale": 1 if is_hr else plan.scale,
        "degrade": "none" if is_hr else plan.spec,
        "degrade_seed": int(plan.degrade_seed),
        **plan.recognizers.names(hr_row=is_hr),
        "sr_sha256": sr_sha256(sr),
        "protocol_config_sha256": protocol_config_sha256(proto),
        "lrfr_version": plan.lrfr_version,
        "n_images": len({str(p) for p in kept.data.image_paths}),
        "psnr": _finite_mean(kept.psnr),
        "ssim": _finite_mean(kept.ssim),
        "embed_precision": plan.precision,
        "backend": plan.backend,
    }
    if plan.n_pairs is not None:
        row["pairs_subset"] = prepared.conventions["pairs"]
    if plan.fast:
        row.update(fast_check_faces=len(ex.check),
                   fast_check_cosine_min=float(ex.check.min()) if len(ex.check) else np.nan,
                   fast_check_cosine_mean=float(ex.check.mean()) if len(ex.check) else np.nan)
    if plan.identity:
        row["identity_similarity"] = identity_similarity(prepared, n_hr, sr, plan.recognizers, ex.features,
                                                         **plan.extract_settings(proto))
    if plan.on_bad_image == "skip":
        row["n_images_skipped"] = len(ex.skipped)
        row["n_pairs_removed"] = int(kept.removed["n_pairs_removed"])
    row.update(summary)
    return row


def evaluate(
    sr_model: object | Sequence[object] = "bicubic",
    protocol: str | Sequence[str] = "blufr",
    recognizer: nn.Module | str | None = None,
    weights: str | Path | None = None,
    data: str | Path | None = None,
    scale: int = 8,
    batch_size: int = 128,
    device: str | torch.device | None = None,
    degrade: str = "bicubic",
    workdir: str | Path | None = None,
    progress: bool = True,
    cache: bool = True,
    on_bad_image: str = "error",
    setting: str = "both_low",
    degrade_seed: int = 0,
    probe_recognizer: nn.Module | str | None = None,
    probe_weights: str | Path | None = None,
    identity: bool = False,
    fast: bool = False,
    feature_dir: str | Path | None = None,
    backend: str = "torch",
    n_pairs: int | None = None,
    pairs_seed: int = 0,
) -> pd.DataFrame:
    """Evaluate one or more SR front-ends on one or more protocols; one row per (SR model, protocol).

    Parameters
    ----------
    sr_model: an ``nn.Module`` (LR → HR, [0, 1]), a registry name (``"bicubic"``, ...), ``"hr"``
        for the upper bound (HR images, no degradation), or a list of these.
    protocol: ``"lfw"``, ``"blufr"``, ``"celeba"``, a path to a protocol TOML, or a list.
    recognizer: a :class:`lrfr.recognition.base.Recognizer`, or a registry name with ``weights``.
        ``None`` with no weights uses the packaged SynthFaces sphere20a (meaningful on SynthFaces only).
    data: the protocol's data root (e.g. a folder with ``lfw-112x96/``, ``pairs.txt`` and
        ``blufr_lfw_config.mat``; an identity-per-folder tree for ``celeba``). ``None`` → the
        held-out SynthFaces test set, exported under ``workdir``.
    scale: the degradation factor (HR → HR/scale → SR). ``degrade``: ``"bicubic"`` (antialiased,
        C-Face's chain), ``"bilinear_steps"`` (PFSR's chain), or a degradation spec such as
        ``"blur:sigma=1.2,down:bicubic,noise:gauss=0.02,jpeg:q=40"`` (:mod:`lrfr.data.degradations`),
        its random draws seeded per image from ``degrade_seed`` and the image's name.
    setting: ``"both_low"`` (default) or ``"cross"`` (HR gallery / first image, LR probes; module doc).
    probe_recognizer, probe_weights: a second recognizer for the LR side (an adapted or distilled
        low-resolution recognizer): images that went LR → SR are embedded by it, HR images by
        ``recognizer``. In the cross setting the gallery / first images are HR; in ``both_low`` every
        image is LR → SR, so the probe recognizer embeds both sides (the ``"hr"`` row, which degrades
        nothing, stays the reference's). It must take the same input size. Rows name both recognizers
        (``probe_recognizer``, ``probe_recognizer_sha256``); not given, the reference embeds everything.
    identity: add the column ``identity_similarity`` (:func:`identity_similarity`: the mean cosine between
        each LR → SR face's features and its HR face's; embeds the HR faces too, once per call's cache).
    fast: embed in bfloat16 autocast instead of float32 (opt-in; the SR front-ends still run as
        they are). Every row says its ``embed_precision``; a fast row also reports, for the first
        :data:`lrfr.embedding.FAST_CHECK_FACES` faces of each embedded set, the cosine between the bf16
        and the fp32 features (``fast_check_faces``, ``fast_check_cosine_min``, ``_mean``). What bf16
        does to the protocols' figures on real LFW is measured by ``lrfr bench fast`` (docs/benchmarks.md).
    backend: ``"torch"`` (default: the measuring stick) or ``"onnxruntime"`` — every recognizer exported to ONNX
        once and run by onnxruntime on the CPU (:mod:`lrfr.recognition.onnx_backend`); rows say ``backend``.
        What it changes in the protocols' figures is measured in docs/benchmarks.md.
    feature_dir: a folder where each set of features is stored on disk and found again, in this process
        or a later one, under a key of everything that made it (:mod:`lrfr.feature_store`); a row
        whose features came from it reports zero seconds for every stage but the protocol's.
    n_pairs, pairs_seed: score a seeded subset of about ``n_pairs`` pairs of a pairs protocol (``lfw``,
        ``celeba``), as many of each fold and kind (a quick look; rows say ``pairs_subset``). BLUFR has no pairs.
    on_bad_image: ``"error"`` (default): an image that cannot be read, or is not of the
        recognizer's input size, stops the run naming it. ``"skip"``: such images are left out
        with every pair that uses them, and reported (module doc).
    """
    spec, device, root, workdir = _checked_inputs(on_bad_image, setting, degrade, backend, device, data, workdir,
                                                  progress, recognizer, weights)
    names = _as_list(protocol)
    if _is_gallery_call(names):
        return gallery_protocol_table(_as_list(sr_model) or ["bicubic"], names, root, recognizer=recognizer,
                                      weights=weights, probe_recognizer=probe_recognizer, probe_weights=probe_weights,
                                      scale=scale, degrade=spec, degrade_seed=degrade_seed, device=device,
                                      batch_size=batch_size, on_bad_image=on_bad_image, progress=progress,
                                      backend=backend)
    plan = plan_evaluation(sr_model, names, spec=spec, device=device, root=root, workdir=workdir,
                           recognizer=recognizer, weights=weights, probe_recognizer=probe_recognizer,
                           probe_weights=probe_weights, scale=scale, batch_size=batch_size, progress=progress,
                           cache=cache, on_bad_image=on_bad_image, setting=setting, degrade_seed=degrade_seed,
                           identity=identity, fast=fast, feature_dir=feature_dir, backend=backend, n_pairs=n_pairs,
                           pairs_seed=pairs_seed)
    rows, results, conventions, headline, skipped, seconds = [], {}, {}, {}, {}, {}
    for proto in plan.protocols:
        prepared, n_hr = prepare_protocol(plan, proto)
        # a protocol whose prepare recorded no conventions is described by its own
        conventions[proto.name] = prepared.conventions or proto.conventions
        for sr in plan.srs:
            cell = score_cell(plan, proto, prepared, n_hr, sr)
            key = (cell.row["sr"], proto.name)
            results[key], seconds[key] = cell.result, cell.seconds
            headline[proto.name] = list(cell.result.headline)
            if cell.skipped is not None:
                skipped[proto.name] = cell.skipped
            rows.append(cell.row)
    from lrfr.report import ResultTable

    table = ResultTable(rows)
    table.attrs["results"] = results
    table.attrs["conventions"] = conventions
    table.attrs["headline"] = headline
    table.attrs["data"] = str(root)
    # keyed in the order the cells first named each front-end and protocol
    table.attrs["pinned"] = {**plan.pinned(), "sr_sha256": {r["sr"]: r["sr_sha256"] for r in rows},
                             "protocol_config_sha256": {r["protocol"]: r["protocol_config_sha256"] for r in rows}}
    table.attrs["seconds"] = seconds
    if on_bad_image == "skip":
        table.attrs["skipped"] = skipped
    return table


def calibrate(sr: object = "hr", protocol: str = "lfw", data: str | Path | None = None, recognizer=None,
              weights: str | Path | None = None, scale: int = 8, degrade: str = "bicubic", setting: str = "both_low",
              fars=(1e-2, 1e-3, 1e-4), trial: int = 1, confidence: float = 0.95, degrade_seed: int = 0,
              batch_size: int = 128, device=None, workdir: str | Path | None = None, progress: bool = True,
              probe_recognizer=None, probe_weights: str | Path | None = None, backend: str = "torch") -> "Calibration":
    """A verification threshold at each of ``fars`` from a protocol's held-out pairs, as a
    :class:`lrfr.calibration.Calibration` (how: :mod:`lrfr.calibration`).

    ``probe_recognizer``/``probe_weights``: the LR side's recognizer, as in :func:`lrfr.evaluate`; the
    fingerprint then records both (``probe_recognizer``, ``probe_weights_sha256``). ``backend``: as in
    :func:`lrfr.evaluate`."""
    from lrfr import protocols as protocol_registry
    from lrfr.calibration import Calibration, calibration_scores
    from lrfr.data.degradations import canonical
    from lrfr.fingerprint import recognizer_fingerprint
    from lrfr.metrics.thresholds import CalibrationError, operating_point
    from lrfr.weights import PACKAGED
    from lrfr.weights import resolve as resolve_weights

    if setting not in SETTINGS:
        raise ValueError(f"setting must be one of {', '.join(SETTINGS)}; got {setting!r}")
    fars = sorted({float(f) for f in fars}, reverse=True)
    if not fars:
        raise CalibrationError("no target FAR given")
    spec = canonical(degrade)
    if isinstance(sr, str) and sr.startswith(PACKAGED):
        sr = resolve_weights(sr)
    root = Path(data) if data is not None else default_synth_data(Path(workdir) if workdir else None, progress)
    if not root.exists():
        raise FileNotFoundError(f"data root not found: {root}")
    recs = resolve_recognizers(recognizer, weights, probe_recognizer, probe_weights)
    proto = protocol_registry.get(protocol)
    proto.set_progress(progress)
    prepared = proto.prepare(root, workdir=workdir)
    n_hr = 0
    if setting == "cross":
        prepared, n_hr = cross_resolution_data(prepared)
    ex = setting_features(prepared, n_hr, sr, recs, scale=scale, flip=proto.flip, degrade=spec, batch_size=batch_size,
                          device=resolve_device(device), progress=progress, degrade_seed=degrade_seed, backend=backend)
    genuine, impostor = calibration_scores(prepared, ex.features, setting, trial)
    points = [operating_point(genuine, impostor, far, confidence) for far in fars]
    is_hr = isinstance(sr, str) and sr == HR
    names = recs.names(hr_row=is_hr)
    fp = recognizer_fingerprint(names["recognizer"], names["recognizer_sha256"], proto.flip,
                                names["probe_recognizer"], names["probe_recognizer_sha256"])
    source = {"protocol": proto.name, "data": str(root), "n_genuine": int(len(genuine)), "n_impostor": int(len(impostor))}
    if prepared.has_gallery:
        source["trial"] = trial
    return Calibration(fingerprint=fp, points=points, sr=sr_name(sr), sr_sha256=sr_sha256(sr),
                       scale=1 if is_hr else scale, degrade="none" if is_hr else spec, setting=setting,
                       source=source, lrfr_version=lrfr_version())
