"""Prior-guided attention SR (papers/003): the generator's shapes and structure, the face-parsing
providers (SynthFaces' exact maps, landmark-derived masks), the prior loss (eq. 3.6) by hand, the
SR recipe's L_c + L_p + L_f terms with maps that follow their faces' augmentation, a few real
training steps on tiny SynthFaces (method 1, and method 2 with SRGAN's discriminator), the model
file round trip and the shipped pipelines. Tiny widths throughout."""
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import lrfr.sr as sr
from lrfr.data.synth import PARSING_CLASSES, SynthFaces
from lrfr.priors.parsing import LandmarkParsing, SynthParsing, landmark_parsing, one_hot_maps
from lrfr.sr.prior_attention import AttentionBlock, Hourglass

TINY = {"channels": 8, "blocks": 1, "prior_channels": 4, "prior_blocks": 1, "hourglass_depth": 2}
PIPELINES = Path(__file__).resolve().parents[1] / "pipelines"


@pytest.mark.parametrize("scale", [2, 4, 8])
def test_shapes_at_every_scale_with_coarse_sr_and_parsing_maps(scale):
    torch.manual_seed(0)
    g = sr.build("prior_attention", scale=scale, **TINY)
    assert g(torch.rand(2, 3, 8, 8)).shape == (2, 3, 8 * scale, 8 * scale)
    out = g.forward_with_priors(torch.rand(1, 3, 14, 12))
    hr = (14 * scale, 12 * scale)
    assert out.sr.shape == (1, 3, *hr) and out.coarse.shape == (1, 3, *hr)
    assert out.parsing.shape == (1, len(PARSING_CLASSES), *hr)


def test_8x_from_14x12_to_112x96_forward_is_the_fine_sr():
    torch.manual_seed(0)
    g = sr.build("prior_attention", scale=8, **TINY).eval()
    lr = torch.rand(2, 3, 14, 12)
    assert g.super_resolve(lr).shape == (2, 3, 112, 96)
    assert torch.equal(g(lr), g.forward_with_priors(lr).sr)


def test_thesis_structure_on_the_meta_device():
    with torch.device("meta"):
        g = sr.build("prior_attention", scale=8)
    blocks = [m for m in g.modules() if isinstance(m, AttentionBlock)]
    assert len(blocks) == 16  # 16 basic blocks of 64 channels (Table 3.1)
    assert blocks[0].conv3.kernel_size == (3, 3) and blocks[0].conv5.dilation == (2, 2)  # "5×5" by dilation
    assert len([m for m in blocks[0].excite if isinstance(m, torch.nn.Linear)]) == 2  # two dense layers
    assert sum(isinstance(m, torch.nn.PixelShuffle) for m in g.upsample) == 3  # three ×2 stages
    assert sum(isinstance(m, Hourglass) for m in g.prior) == 1
    assert g.fusion[0].in_channels == 3 + 7 and g.fusion[-1].out_channels == 3  # concat → conv → res → conv


def test_channel_attention_is_a_softmax_over_channels():
    torch.manual_seed(0)
    block = AttentionBlock(8, reduction=2)
    x = torch.rand(3, 8, 5, 4)
    fused = block.conv3(x) + block.conv5(x)
    weights = torch.softmax(block.excite(fused.mean(dim=(2, 3))), dim=1)
    torch.testing.assert_close(weights.sum(1), torch.ones(3))
    torch.testing.assert_close(block(x), x + block.out(F.relu(fused * weights[:, :, None, None])))


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="scale must be one of 2, 4, 8"):
        sr.build("prior_attention", scale=16, **TINY)
    with pytest.raises(ValueError, match="prior_attention: hourglass_depth"):
        sr.build("prior_attention", scale=4, hourglass_depth=0)


# --- parsing providers -----------------------------------------------------------------------


def test_synth_parsing_is_synthfaces_exact_map():
    ds = SynthFaces(n_identities=2, images_per_identity=2, size=(112, 96), seed=0)
    provider = SynthParsing(ds)
    labels = provider.labels(torch.tensor([3, 0]))
    assert torch.equal(labels[0], ds.sample(3)["parsing"]) and torch.equal(labels[1], ds.sample(0)["parsing"])
    maps = provider.maps(torch.tensor([3]))
    assert maps.shape == (1, 7, 112, 96) and torch.equal(maps.sum(1), torch.ones(1, 112, 96))
    assert torch.equal(maps.argmax(1)[0], labels[0])


def test_landmark_masks_agree_with_synthfaces_exact_maps_on_held_out_faces():
    """Landmark-derived regions are coarse, but they must overlap the true components: pixel accuracy
    and mean IoU of the template map and of per-face masks against SynthFaces' exact maps."""
    ds = SynthFaces(n_identities=10, images_per_identity=2, size=(112, 96), seed=7, identity_offset=20000)
    renders = [ds.render(i) for i in range(len(ds))]
    truth = torch.from_numpy(np.stack([r[1] for r in renders]).astype(np.int64))
    template = LandmarkParsing((112, 96)).labels(torch.arange(len(ds)))
    own = torch.from_numpy(landmark_parsing(np.stack([r[2] for r in renders]), (112, 96)).astype(np.int64))

    def scores(pred):
        ious = [((pred == k) & (truth == k)).sum() / ((pred == k) | (truth == k)).sum().clamp(min=1)
                for k in range(len(PARSING_CLASSES))]
        return float((pred == truth).float().mean()), float(torch.stack(ious).mean())

    acc_t, miou_t = scores(template)
    acc_o, miou_o = scores(own)
    assert acc_t > 0.70 and miou_t > 0.35, (acc_t, miou_t)  # measured 0.79 / 0.47
    assert acc_o > 0.70 and miou_o > 0.45, (acc_o, miou_o)  # measured 0.80 / 0.57 (eyes, nose, mouth follow)
    assert (template == template[0]).all()  # aligned faces: one template map for all


def test_landmark_parsing_rejects_bad_landmarks():
    with pytest.raises(ValueError, match=r"\(5, 2\)"):
        landmark_parsing(np.zeros((4, 2)), (112, 96))
    with pytest.raises(ValueError, match="same point"):
        landmark_parsing(np.zeros((5, 2)), (112, 96))
    with pytest.raises(ValueError, match="n_items, 5, 2"):
        LandmarkParsing((112, 96), landmarks=np.zeros((3, 4, 2)))


def test_prior_loss_is_eq_3_6_by_hand():
    from lrfr.losses import build_loss

    target = one_hot_maps(torch.tensor([[[0, 1], [2, 2]]]), 3)  # (1, 3, 2, 2): 4 pixels, one 1 each
    pred = torch.full_like(target, 0.5)
    # every one of the 12 entries differs by 0.5: mean square 0.25
    assert float(build_loss("parsing_prior", weight=2.0)(pred, target)) == pytest.approx(2.0 * 0.25)
    with pytest.raises(ValueError, match=r"\(N, K, H, W\)"):
        build_loss("parsing_prior")(pred[0], target[0])


# --- the recipe's prior terms ----------------------------------------------------------------


def tiny_prior_config(out, discriminator="", **loss):
    from lrfr.config import from_dict
    from lrfr.recipes.sr.config import SRPipeline

    return from_dict(SRPipeline, {
        "kind": "sr", "name": "tiny-prior-attention",
        "model": {"arch": "prior_attention", "scale": 4, "kwargs": TINY},
        "discriminator": {"arch": discriminator, "kwargs": {"channels": 4, "dense": 8} if discriminator else {}},
        "loss": {"pixel": "mse", "coarse_weight": 1.0, "prior_weight": 1.0, **loss},
        "data": {"source": "synth", "n_identities": 2, "images_per_identity": 4, "hr_size": [48, 48]},
        "val": {"source": "none"},
        "optim": {"batch_size": 4, "iterations": 12, "lr": 2e-3, "milestones": []},
        "augment": {"hflip": True, "crop_pad": 2},
        "run": {"out": str(out), "seed": 0},
    }, "tiny prior_attention")


def test_true_maps_follow_their_faces_flips_and_crops(tmp_path):
    from lrfr.recipes.sr.recipe import SRRecipe

    recipe = SRRecipe(tiny_prior_config(tmp_path), progress=False)
    provider = recipe.priors.maps.provider
    for step in (0, 1, 5):
        _, hr = recipe.batch(step)
        targets = recipe.priors.targets(step)
        idx = recipe.batches.indices(step)
        faces, maps = recipe.data.batch(idx)[0], provider.maps(idx)
        for i in range(len(idx)):
            matches = [(flip, dy, dx) for flip in (False, True) for dy in range(5) for dx in range(5)
                       if torch.equal(_moved(faces[i], flip, dy, dx), hr[i])]
            assert matches, "the face's augmentation was not found"
            assert any(torch.equal(_moved(maps[i], *m), targets[i]) for m in matches)


def _moved(image, flip, dy, dx, pad=2):
    image = image.flip(-1) if flip else image
    h, w = image.shape[-2:]
    return F.pad(image[None], (pad,) * 4, mode="replicate")[0, :, dy:dy + h, dx:dx + w]


def test_method_1_loss_drops_over_a_few_steps_on_tiny_synthfaces(tmp_path):
    """L_content = L_c + L_p + L_f (eq. 3.8) over 12 steps, 12×12 LR → 48×48: the total falls by half
    (L_p, largest at the start, fastest) and each image term falls too."""
    from lrfr.recipes.sr.recipe import SRRecipe

    recipe = SRRecipe(tiny_prior_config(tmp_path), progress=False)
    recipe.set_mode(True)
    history = [recipe.train_step(s) for s in range(12)]

    def first_and_last(term):
        return (sum(float(h[term]) for h in history[:3]) / 3, sum(float(h[term]) for h in history[-3:]) / 3)

    for term, ratio in (("total_g", 0.5), ("prior", 0.5), ("pixel", 0.95), ("coarse", 0.95)):
        first, last = first_and_last(term)
        assert last < ratio * first, (term, first, last)


def test_method_2_adds_srgan_discriminator_and_adversarial_term(tmp_path):
    from lrfr.recipes.sr.recipe import SRRecipe

    recipe = SRRecipe(tiny_prior_config(tmp_path, discriminator="srgan", adversarial="vanilla",
                                        adversarial_weight=1e-3), progress=False)
    recipe.set_mode(True)
    losses = recipe.train_step(0)
    assert {"pixel", "coarse", "prior", "adversarial_g", "discriminator"} <= losses.keys()
    assert all(torch.isfinite(v) for v in losses.values())


def test_prior_terms_refuse_what_cannot_work(tmp_path):
    from lrfr.config import from_dict
    from lrfr.recipes.sr.config import SRPipeline
    from lrfr.recipes.sr.recipe import SRRecipe

    base = {"model": {"arch": "srresnet", "scale": 4, "kwargs": {"channels": 4, "blocks": 1}},
            "loss": {"prior_weight": 1.0}, "val": {"source": "none"},
            "data": {"source": "synth", "n_identities": 1, "images_per_identity": 4, "hr_size": [32, 32]},
            "optim": {"batch_size": 4}, "run": {"out": str(tmp_path)}}
    with pytest.raises(ValueError, match="need a generator with a prior branch"):
        SRRecipe(from_dict(SRPipeline, base), progress=False)
    wrong_k = {**base, "model": {"arch": "prior_attention", "scale": 4, "kwargs": {**TINY, "parsing_classes": 11}}}
    with pytest.raises(ValueError, match="parsing_classes = 11"):
        SRRecipe(from_dict(SRPipeline, wrong_k), progress=False)
    bad_source = {**base, "model": wrong_k["model"] | {"kwargs": TINY},
                  "loss": {"prior_weight": 1.0, "parsing": "celeba"}}
    with pytest.raises(ValueError, match=r"loss\.parsing = 'celeba' is not allowed: expected one of 'auto'"):
        SRRecipe(from_dict(SRPipeline, bad_source), progress=False)  # refused when the config is read


def test_model_file_round_trip(tmp_path):
    torch.manual_seed(0)
    g = sr.build("prior_attention", scale=8, **TINY).eval()
    back = sr.load(sr.save(g, tmp_path / "g.pt", meta={"pipeline": "prior_attention_gan"}))
    assert back.arch == "prior_attention" and back.name == "prior_attention_gan"
    lr = torch.rand(2, 3, 14, 12)
    assert torch.equal(back(lr), g(lr))
    half = sr.load(sr.save(g, tmp_path / "h.pt", dtype="float16"))
    torch.testing.assert_close(half(lr), g(lr), atol=2e-3, rtol=0)


@pytest.mark.parametrize("name", ["gafh_ridn", "gafh_ridn_synth", "prior_attention", "prior_attention_gan",
                                  "prior_attention_synth", "prior_attention_gan_synth"])
def test_pipelines_parse_strictly_and_build(name):
    from lrfr.config import load_toml
    from lrfr.recipes import parse_pipeline

    path = PIPELINES / f"{name}.toml"
    if not path.exists():
        pytest.skip(f"{path.name} not written")
    cfg = parse_pipeline(load_toml(path), str(path))
    with torch.device("meta"):
        g = sr.build(cfg.model.arch, scale=cfg.model.scale, **cfg.model.kwargs)
        if cfg.discriminator.arch:
            sr.build_discriminator(cfg.discriminator.arch, **cfg.discriminator.kwargs)
    assert g.scale == 8 and tuple(cfg.data.hr_size) == (112, 96)
