"""GAFH-RIDN (papers/001, draft papers/000): the RIDB generator, its relativistic average
discriminator, RaGAN's eqs. 10–11 against values worked by hand, a few real training steps on
tiny SynthFaces, and the model-file round trip. Tiny widths throughout."""
import math

import pytest
import torch
import torch.nn.functional as F

import lrfr.sr as sr
from lrfr.losses import GANLoss
from lrfr.sr.gafh_ridn import RIDB, DenseNestedBlock, InternalDenseBlock

TINY = {"channels": 8, "growth": 4, "dnbs": 1, "ridbs": 1}


@pytest.mark.parametrize("scale", [2, 4, 8])
def test_shapes_at_every_scale_square_and_non_square(scale):
    torch.manual_seed(0)
    g = sr.build("gafh_ridn", scale=scale, **TINY)
    assert g.scale == scale and g.arch == "gafh_ridn"
    assert g(torch.rand(2, 3, 8, 8)).shape == (2, 3, 8 * scale, 8 * scale)
    assert g(torch.rand(1, 3, 14, 12)).shape == (1, 3, 14 * scale, 12 * scale)


def test_8x_from_14x12_to_112x96_and_the_tanh_range():
    torch.manual_seed(0)
    g = sr.build("gafh_ridn", scale=8, **TINY)
    lr = torch.rand(2, 3, 14, 12)
    out = g.super_resolve(lr)
    assert out.shape == (2, 3, 112, 96)
    with torch.no_grad():
        g.tail.bias.fill_(50.0)  # saturates the tanh: the draft's [-1, 1] output maps onto [0, 1]
        assert torch.allclose(g(lr), torch.ones(2, 3, 112, 96))
        g.tail.bias.fill_(-50.0)
        assert torch.allclose(g(lr), torch.zeros(2, 3, 112, 96))


def test_paper_structure_on_the_meta_device():
    with torch.device("meta"):
        g = sr.build("gafh_ridn", scale=8)
    assert g.build_kwargs == {"scale": 8, "channels": 64, "growth": 32, "dnbs": 4, "ridbs": 3, "residual_scale": 0.2,
                              "bicubic_skip": False}
    assert g.sfm.kernel_size == (9, 9)  # the draft's shallow 9×9 conv
    dnbs = [m for m in g.modules() if isinstance(m, DenseNestedBlock)]
    assert len(dnbs) == 4 and all(d.residual_scale == 0.2 for d in dnbs)
    assert sum(isinstance(m, RIDB) for m in g.modules()) == 12  # "totally 12 RIDBs"
    assert all(len(r.body) == 4 for r in g.modules() if isinstance(r, RIDB))  # four internal dense blocks
    block = next(m for m in g.modules() if isinstance(m, InternalDenseBlock))
    assert block.conv2.in_channels == 64 + 32  # dense concatenation [x, f1]
    assert sum(isinstance(m, torch.nn.Upsample) for m in g.modules()) == 3  # three ×2 steps for 8×


def test_training_starts_from_mid_grey_or_from_bicubic():
    """The last conv starts at zero: no initial noise for an adversarial term to lock in."""
    lr = torch.rand(2, 3, 8, 6)
    plain = sr.build("gafh_ridn", scale=4, **TINY).eval()
    torch.testing.assert_close(plain(lr), torch.full((2, 3, 32, 24), 0.5))
    skip = sr.build("gafh_ridn", scale=4, bicubic_skip=True, **TINY).eval()
    torch.testing.assert_close(skip(lr), F.interpolate(lr, size=(32, 24), mode="bicubic", align_corners=False))


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="scale must be one of 2, 4, 8"):
        sr.build("gafh_ridn", scale=3, **TINY)
    with pytest.raises(ValueError, match="gafh_ridn: growth"):
        sr.build("gafh_ridn", scale=4, channels=8, growth=0)
    with pytest.raises(TypeError, match="unknown argument"):
        sr.build("gafh_ridn", scale=4, blocks=3)


def test_discriminator_has_nine_convs_and_takes_any_size():
    with torch.device("meta"):
        paper = sr.build_discriminator("gafh_rad")
    convs = [m for m in paper.features if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 9 and all(c.kernel_size == (3, 3) for c in convs)
    assert [c.stride[0] for c in convs] == [1, 2, 1, 2, 1, 2, 1, 2, 1]
    assert convs[0].out_channels == 64 and convs[-1].out_channels == 512
    assert [m.out_features for m in paper.head if isinstance(m, torch.nn.Linear)] == [1024, 1]  # two dense layers
    torch.manual_seed(0)
    d = sr.build_discriminator("gafh_rad", channels=4, dense=8)
    for h, w in ((112, 96), (16, 16), (30, 20), (5, 7)):
        assert d(torch.rand(2, 3, h, w)).shape == (2, 1)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def test_ragan_matches_eqs_10_and_11_worked_by_hand():
    # C(HR) = [1, -1] (mean 0), C(HF) = [0, 2] (mean 1); eq. 9: D(a, b) = σ(C(a) − E[C(b)])
    real, fake = torch.tensor([[1.0], [-1.0]]), torch.tensor([[0.0], [2.0]])
    d_real = [_sigmoid(1 - 1), _sigmoid(-1 - 1)]  # D(HR_i, HF) = σ(0), σ(-2)
    d_fake = [_sigmoid(0 - 0), _sigmoid(2 - 0)]  # D(HF_j, HR) = σ(0), σ(2)
    # eq. 10: −E[log D(HR, HF)] − E[log(1 − D(HF, HR))]
    eq10 = -(math.log(d_real[0]) + math.log(d_real[1])) / 2 - (math.log(1 - d_fake[0]) + math.log(1 - d_fake[1])) / 2
    # eq. 11: −E[log(1 − D(HR, HF))] − E[log D(HF, HR)]
    eq11 = -(math.log(1 - d_real[0]) + math.log(1 - d_real[1])) / 2 - (math.log(d_fake[0]) + math.log(d_fake[1])) / 2
    assert eq10 == pytest.approx(2.820075, abs=1e-6) and eq11 == pytest.approx(0.820075, abs=1e-6)
    gan = GANLoss(kind="ragan", weight=1e-3)  # β = 10⁻³ of the paper's L_perceptual
    assert float(gan.discriminator(real, fake)) == pytest.approx(eq10, rel=1e-6)
    assert float(gan.generator(real, fake)) == pytest.approx(1e-3 * eq11, rel=1e-6)


def tiny_gafh_config(out, **loss):
    from lrfr.config import from_dict
    from lrfr.recipes.sr.config import SRPipeline

    return from_dict(SRPipeline, {
        "kind": "sr", "name": "tiny-gafh-ridn",
        "model": {"arch": "gafh_ridn", "scale": 4, "kwargs": TINY},
        "discriminator": {"arch": "gafh_rad", "kwargs": {"channels": 4, "dense": 8}},
        "loss": {"pixel": "mse", "adversarial": "ragan", "adversarial_weight": 1e-3, **loss},
        "data": {"source": "synth", "n_identities": 2, "images_per_identity": 4, "hr_size": [48, 48]},
        "val": {"source": "none"},
        "optim": {"batch_size": 4, "iterations": 12, "lr": 2e-3, "milestones": []},
        "run": {"out": str(out), "seed": 0},
    }, "tiny gafh_ridn")


def test_loss_drops_over_a_few_steps_on_tiny_synthfaces(tmp_path):
    """12 alternating D/G steps, 12×12 LR → 48×48: the content (pixel) term falls; RaGAN terms are there."""
    from lrfr.recipes.sr.recipe import SRRecipe

    torch.manual_seed(0)
    recipe = SRRecipe(tiny_gafh_config(tmp_path), progress=False)
    recipe.set_mode(True)
    history = [recipe.train_step(s) for s in range(12)]
    assert {"pixel", "adversarial_g", "discriminator"} <= history[0].keys()
    first = sum(float(h["pixel"]) for h in history[:3]) / 3
    last = sum(float(h["pixel"]) for h in history[-3:]) / 3
    assert last < 0.8 * first, (first, last)


def test_model_file_round_trip(tmp_path):
    torch.manual_seed(0)
    g = sr.build("gafh_ridn", scale=8, **TINY).eval()
    path = sr.save(g, tmp_path / "g.pt", meta={"pipeline": "gafh_ridn_test"})
    back = sr.load(path)
    assert back.arch == "gafh_ridn" and back.name == "gafh_ridn_test" and back.build_kwargs == g.build_kwargs
    lr = torch.rand(2, 3, 14, 12)
    assert torch.equal(back(lr), g(lr))
    half = sr.load(sr.save(g, tmp_path / "h.pt", dtype="float16"))
    torch.testing.assert_close(half(lr), g(lr), atol=2e-3, rtol=0)
    d = sr.build_discriminator("gafh_rad", channels=4, dense=8).eval()
    d_back = sr.load_discriminator(sr.save_discriminator(d, tmp_path / "d.pt"))
    x = torch.rand(2, 3, 40, 36)
    assert d_back.arch == "gafh_rad" and torch.equal(d_back(x), d(x))

