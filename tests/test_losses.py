"""The loss library: every value against a hand computation, plus freezing, gradients and errors."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from lrfr import recognition
from lrfr.losses import (
    EXTRACTOR_REGISTRY,
    LOSS_REGISTRY,
    CharbonnierLoss,
    GANLoss,
    L1Loss,
    MSELoss,
    PerceptualLoss,
    RecognizerFeatures,
    SuperIdentityLoss,
    VGG19Features,
    build_extractor,
    build_loss,
    gradient_penalty,
    normalized_distance,
    vgg19_layers,
)
from lrfr.recognition.base import Recognizer


def sp(x: float) -> float:
    """softplus by hand: log(1 + e^x) = −log σ(−x)."""
    return math.log1p(math.exp(x))


# ---------------------------------------------------------------- pixel

PRED = torch.tensor([[0.0, 0.5], [1.0, 0.25]])
TARGET = torch.tensor([[0.5, 0.5], [0.0, 1.0]])  # differences: −0.5, 0, 1, −0.75


def test_l1_mse_charbonnier_by_hand():
    assert L1Loss()(PRED, TARGET).item() == pytest.approx((0.5 + 0 + 1 + 0.75) / 4)
    assert MSELoss()(PRED, TARGET).item() == pytest.approx((0.25 + 0 + 1 + 0.5625) / 4)
    eps = 1e-3
    want = sum(math.sqrt(d * d + eps * eps) for d in (0.5, 0.0, 1.0, 0.75)) / 4
    assert CharbonnierLoss(eps=eps)(PRED, TARGET).item() == pytest.approx(want, rel=1e-6)
    # LapSRN's form: a perfect prediction costs ε
    assert CharbonnierLoss(eps=0.1)(TARGET, TARGET).item() == pytest.approx(0.1)


def test_weight_scales_the_value():
    for name in ("l1", "mse", "charbonnier"):
        one = build_loss(name)(PRED, TARGET)
        three = build_loss(name, weight=3.0)(PRED, TARGET)
        assert three.item() == pytest.approx(3 * one.item())


def test_pixel_losses_refuse_broadcasting_and_bad_weights():
    with pytest.raises(ValueError, match="shapes differ"):
        L1Loss()(torch.zeros(2, 3), torch.zeros(3))
    with pytest.raises(ValueError, match="weight"):
        L1Loss(weight=-1.0)
    with pytest.raises(ValueError, match="weight"):
        MSELoss(weight=float("nan"))


# ---------------------------------------------------------------- registry


def test_registry_names_and_unknown_name_lists_known():
    assert LOSS_REGISTRY.names() == ["cface", "charbonnier", "facial_attention", "gan", "heatmap", "l1", "mse",
                                     "parsing_prior", "perceptual", "super_identity"]
    assert EXTRACTOR_REGISTRY.names() == ["recognizer", "vgg19"]
    with pytest.raises(KeyError, match=r"unknown loss 'l3'; known: cface, charbonnier, .*, mse"):
        build_loss("l3")
    with pytest.raises(KeyError, match="known: recognizer, vgg19"):
        build_extractor("vgg16")


def test_unknown_kwarg_is_refused_by_name():
    with pytest.raises(TypeError, match=r"'wieght'.*accepts: weight"):
        build_loss("l1", wieght=2.0)
    with pytest.raises(TypeError, match="'typ'"):
        build_loss("gan", typ="ragan")
    with pytest.raises(TypeError, match="'layers'"):
        build_extractor("vgg19", layers="relu1_1", allow_random=True)
    with pytest.raises(ValueError, match="unknown GAN kind 'lsgan'; known: vanilla, ragan, wgan"):
        build_loss("gan", kind="lsgan")


# ---------------------------------------------------------------- adversarial

REAL = torch.tensor([1.0, 2.0])
FAKE = torch.tensor([0.5, -1.5])


def test_vanilla_gan_by_hand():
    gan = GANLoss("vanilla", weight=0.5)
    # D: −mean log σ(real) − mean log(1 − σ(fake)) = mean softplus(−real) + mean softplus(fake)
    want_d = (sp(-1.0) + sp(-2.0)) / 2 + (sp(0.5) + sp(-1.5)) / 2
    assert gan.discriminator(REAL, FAKE).item() == pytest.approx(want_d, rel=1e-6)
    # G (non-saturating): −mean log σ(fake), times the weight; real logits are not needed
    want_g = (sp(-0.5) + sp(1.5)) / 2
    assert gan.generator(None, FAKE).item() == pytest.approx(0.5 * want_g, rel=1e-6)
    assert gan(REAL, FAKE).item() == pytest.approx(0.5 * want_g, rel=1e-6)


def test_ragan_by_hand():
    gan = GANLoss("ragan", weight=2.0)
    # mean C(real) = 1.5, mean C(fake) = −0.5
    # real − mean fake = [1.5, 2.5];  fake − mean real = [−1, −3]
    # L_D = −E log σ([1.5, 2.5]) − E log(1 − σ([−1, −3]))            (papers/001 eq. 10)
    want_d = (sp(-1.5) + sp(-2.5)) / 2 + (sp(-1.0) + sp(-3.0)) / 2
    # L_G = −E log(1 − σ([1.5, 2.5])) − E log σ([−1, −3])            (papers/001 eq. 11)
    want_g = (sp(1.5) + sp(2.5)) / 2 + (sp(1.0) + sp(3.0)) / 2
    assert gan.discriminator(REAL, FAKE).item() == pytest.approx(want_d, rel=1e-6)  # unweighted
    assert gan.generator(REAL, FAKE).item() == pytest.approx(2.0 * want_g, rel=1e-6)
    with pytest.raises(ValueError, match="real_logits"):
        gan.generator(None, FAKE)


def test_ragan_generator_gradient_reaches_fake_through_both_terms():
    fake = FAKE.clone().requires_grad_(True)
    GANLoss("ragan").generator(REAL, fake).backward()
    # d/df_k of mean softplus(r − mean f) + mean softplus(−(f − mean r)):
    #   −(1/2)·mean σ(r − f̄) − (1/2)·σ(−(f_k − r̄))
    s = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    mean_term = (s(1.5) + s(2.5)) / 2
    want = [-0.5 * mean_term - 0.5 * s(1.0), -0.5 * mean_term - 0.5 * s(3.0)]
    assert fake.grad.tolist() == pytest.approx(want, rel=1e-6)


def test_wgan_by_hand():
    gan = GANLoss("wgan", weight=0.1)
    assert gan.discriminator(REAL, FAKE).item() == pytest.approx(-0.5 - 1.5)  # mean fake − mean real
    assert gan.generator(REAL, FAKE).item() == pytest.approx(0.1 * 0.5)  # −mean fake, weighted


def test_gradient_penalty_linear_critic_exact():
    w = nn.Parameter(torch.tensor([[[0.5, -1.0], [2.0, 0.0]]] * 3))  # (3, 2, 2); ‖w‖² = 3·5.25
    critic = lambda x: (w * x).sum(dim=(1, 2, 3))  # noqa: E731 - ∇_x c = w for every sample
    real, fake = torch.rand(4, 3, 2, 2), torch.rand(4, 3, 2, 2)
    norm = math.sqrt(3 * 5.25)
    gp = gradient_penalty(critic, real, fake, weight=10.0)
    assert gp.dtype == torch.float32
    assert gp.item() == pytest.approx(10.0 * (norm - 1) ** 2, rel=1e-6)
    # create_graph=True: the penalty trains the critic; d/dw λ(‖w‖−1)² = 2λ(‖w‖−1)·w/‖w‖
    gp.backward()
    assert torch.allclose(w.grad, 2 * 10.0 * (norm - 1) * w.detach() / norm, rtol=1e-5)


def test_gradient_penalty_interpolates_per_sample_and_is_deterministic():
    critic = lambda x: 0.5 * (x * x).sum(dim=(1, 2, 3))  # noqa: E731 - ∇ = x̂, norm depends on the mix
    real = torch.tensor([[[[3.0]]], [[[0.5]]]])  # (2, 1, 1, 1)
    # fake == real: every interpolation is real itself → mean((|x|−1)²) = ((2)² + (0.5)²)/2
    assert gradient_penalty(critic, real, real.clone(), weight=1.0).item() == pytest.approx((4.0 + 0.25) / 2)
    fake = torch.zeros_like(real)
    a = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(7))
    b = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(7))
    assert a.item() == b.item()
    eps = torch.rand(2, 1, 1, 1, generator=torch.Generator().manual_seed(7))
    want = 10.0 * ((eps.flatten() * real.flatten()).abs() - 1).pow(2).mean()
    assert a.item() == pytest.approx(want.item(), rel=1e-6)


# ---------------------------------------------------------------- super-identity


class TinyRecognizer(Recognizer):
    """A 2×2 'recognizer' whose feature is the first two pixel values (R at (0,0) and (0,1))."""

    input_size = (2, 2)
    embedding_dim = 2
    pixel_mean = 0.0
    pixel_std = 255.0  # normalize(x) = x

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(12, 2, bias=False)
        with torch.no_grad():
            self.proj.weight.zero_()
            self.proj.weight[0, 0] = 1.0
            self.proj.weight[1, 1] = 1.0

    def features(self, x):
        return self.proj(x.flatten(1))


def _faces(pairs):
    x = torch.full((len(pairs), 3, 2, 2), 0.5)
    for i, (a, b) in enumerate(pairs):
        x[i, 0, 0, 0], x[i, 0, 0, 1] = a, b
    return x


SR = _faces([(0.3, 0.4), (0.5, 0.5)])  # unit features (0.6, 0.8) and (1/√2, 1/√2)
HR = _faces([(1.0, 0.0), (0.2, 0.2)])  # unit features (1, 0) and (1/√2, 1/√2)


def test_super_identity_by_hand_and_zero_for_identical():
    loss = SuperIdentityLoss(TinyRecognizer(), weight=2.0)
    # pair 1: ‖(0.6, 0.8) − (1, 0)‖² = 0.16 + 0.64 = 0.8;  pair 2: 0  → mean 0.4, × weight 2
    assert loss(SR, HR).item() == pytest.approx(0.8, rel=1e-6)
    assert loss(HR, HR).item() == pytest.approx(0.0, abs=1e-7)
    assert normalized_distance(torch.tensor([[3.0, 4.0]]), torch.tensor([[-1.0, 0.0]])).tolist() == pytest.approx([
        (0.6 + 1) ** 2 + 0.8 ** 2])


def test_super_identity_cached_hr_features_and_shape_checks():
    rec = TinyRecognizer()
    loss = SuperIdentityLoss(rec)
    cached = loss.target_features(HR)
    assert not cached.requires_grad
    assert loss(SR, hr_features=cached).item() == pytest.approx(loss(SR, HR).item())
    with pytest.raises(ValueError, match="exactly one"):
        loss(SR)
    with pytest.raises(ValueError, match="exactly one"):
        loss(SR, HR, hr_features=cached)
    with pytest.raises(ValueError, match="one shape"):
        loss(SR, hr_features=cached[:1])
    with pytest.raises(ValueError, match="expects"):
        loss(torch.rand(2, 3, 4, 4), HR)  # wrong size: check_shape


def test_super_identity_gradient_reaches_sr_not_frozen_recognizer():
    rec = TinyRecognizer()
    rec.train()
    loss = SuperIdentityLoss(rec)
    assert not any(p.requires_grad for p in rec.parameters())
    sr = SR.clone().requires_grad_(True)
    loss(sr, HR).backward()
    assert sr.grad is not None and sr.grad.abs().sum() > 0
    assert all(p.grad is None for p in rec.parameters())
    loss.train()
    assert not rec.training  # stays in eval when frozen


def test_super_identity_trainable_recognizer_gets_gradients():
    rec = TinyRecognizer()
    loss = SuperIdentityLoss(rec, trainable=True)
    loss(SR, HR).backward()
    assert rec.proj.weight.grad is not None and rec.proj.weight.grad.abs().sum() > 0
    loss.train()
    assert rec.training


# ---------------------------------------------------------------- feature extractors / perceptual


def _check_perceptual(extractor, shape):
    loss = PerceptualLoss(extractor, criterion="mse", weight=1.0)
    loss.train()  # a parent's .train() must not unfreeze the extractor
    assert not extractor.training and not any(m.training for m in extractor.modules())
    torch.manual_seed(0)
    target = torch.rand(shape)
    assert loss(target, target.clone()).item() == 0.0
    pred = (target + 0.2 * torch.randn(shape)).clamp(0, 1).requires_grad_(True)
    value = loss(pred, target)
    assert value.item() > 0
    value.backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in extractor.parameters())
    # weight scales, criterion l1 differs
    assert PerceptualLoss(extractor, "mse", weight=4.0)(pred, target).item() == pytest.approx(4 * value.item(), rel=1e-5)
    # by hand: mean squared difference of the extractor's maps
    with torch.no_grad():
        want = (extractor(pred) - extractor(target)).pow(2).mean()
    assert value.item() == pytest.approx(want.item(), rel=1e-5)


def test_perceptual_vgg19_random():
    vgg = VGG19Features(layer="relu2_2", allow_random=True)
    assert len(vgg.features) == vgg19_layers()["relu2_2"] + 1 == 9
    _check_perceptual(vgg, (2, 3, 32, 32))


def test_perceptual_recognizer_features_tiny_sphere():
    net = recognition.build("sphere20a", width=0.25, embedding_dim=32)
    feats = RecognizerFeatures(net)
    assert feats.layer == "stages.2"
    calls = []
    net.stages[3].register_forward_hook(lambda *a: calls.append("stage4"))
    net.fc5.register_forward_hook(lambda *a: calls.append("fc5"))
    out = feats(torch.rand(2, 3, 112, 96))
    assert out.shape == (2, 64, 14, 12)  # 256 · 0.25 channels at stride 8
    assert calls == []  # the forward stopped after the requested layer
    with torch.no_grad():  # same as running the stages by hand on the normalized input
        want = net.stages[:3](net.normalize(torch.full((1, 3, 112, 96), 0.3)))
    assert torch.allclose(feats(torch.full((1, 3, 112, 96), 0.3)), want)
    _check_perceptual(feats, (2, 3, 112, 96))
    # the recognizer still runs end to end afterwards (the hook was removed)
    assert net(torch.rand(1, 3, 112, 96)).shape == (1, 32)
    assert calls == ["stage4", "fc5"]


def test_recognizer_features_defaults_and_errors():
    mfn = recognition.build("mobilefacenet")
    assert build_extractor("recognizer", recognizer=mfn).layer == "blocks.11"
    with pytest.raises(ValueError, match="has no layer 'stage9'"):
        RecognizerFeatures(recognition.build("sphere20a", width=0.25, embedding_dim=8), layer="stage9")
    with pytest.raises(ValueError, match="no default feature layer for TinyRecognizer"):
        RecognizerFeatures(TinyRecognizer())
    with pytest.raises(TypeError, match="Recognizer"):
        RecognizerFeatures(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="expects"):
        RecognizerFeatures(TinyRecognizer(), layer="proj")(torch.rand(1, 3, 3, 3))


def test_perceptual_refuses_trainable_extractor_and_unknown_criterion():
    with pytest.raises(ValueError, match="trainable"):
        PerceptualLoss(nn.Conv2d(3, 4, 3))
    with pytest.raises(ValueError, match="criterion 'l2'"):
        PerceptualLoss(VGG19Features("relu1_1", allow_random=True), criterion="l2")


def test_vgg19_missing_weights_file_and_random_needs_opt_in(tmp_path):
    missing = tmp_path / "vgg19_imagenet.pth"
    with pytest.raises(FileNotFoundError, match=r"vgg19_imagenet\.pth.*cannot be fetched.*'recognizer'"):
        VGG19Features(weights=missing)
    with pytest.raises(ValueError, match="allow_random=True"):
        VGG19Features()
    with pytest.raises(ValueError, match="unknown VGG19 layer 'relu3_5'"):
        VGG19Features(layer="relu3_5", allow_random=True)  # C-Face's φ_{3,5} does not exist


def _vgg19_state(upto: str) -> dict[str, torch.Tensor]:
    """A torchvision-format vgg19 state dict (features only, up to ``upto``) with random values."""
    import torchvision

    torch.manual_seed(1)
    with torch.device("meta"):
        ref = torchvision.models.vgg19(weights=None, init_weights=False).state_dict()
    keep = {f"features.{i}" for i in range(vgg19_layers()[upto] + 1)}
    return {k: torch.randn(v.shape) * 0.1 for k, v in ref.items() if k.rsplit(".", 1)[0] in keep}


def test_vgg19_weights_round_trip_from_local_file(tmp_path):
    state = _vgg19_state("relu2_2")
    path = tmp_path / "vgg19.pth"
    torch.save(state, path)
    vgg = build_extractor("vgg19", layer="relu2_2", weights=str(path))
    got = vgg.features.state_dict()
    assert set(got) == {k.removeprefix("features.") for k in state}
    assert all(torch.equal(got[k.removeprefix("features.")], v) for k, v in state.items())
    # ImageNet normalization inside: the first conv sees (x − mean) / std
    x = torch.rand(1, 3, 8, 8)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    want = torch.relu(nn.functional.conv2d((x - mean) / std, state["features.0.weight"], state["features.0.bias"],
                                           padding=1))
    assert torch.allclose(VGG19Features("relu1_1", weights=path)(x), want, atol=1e-6)
    # a deeper layer than the file holds, or a file of another network, is an error naming the file
    with pytest.raises(ValueError, match=r"vgg19\.pth lacks features\.10\.weight"):
        VGG19Features("relu3_1", weights=path)
    other = tmp_path / "vgg16.pth"
    torch.save({**state, "features.17.weight": torch.zeros(512, 256, 3, 3)}, other)
    with pytest.raises(ValueError, match=r"vgg16\.pth is not a torchvision vgg19 state dict.*features\.17"):
        VGG19Features("relu2_2", weights=other)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match=r"junk\.pth could not be read"):
        VGG19Features("relu1_1", weights=junk)
