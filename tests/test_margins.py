"""A-Softmax (AngleLinear): ψ shape, λ schedule and its persistence, numerical safety, training."""
from __future__ import annotations

import io
import math

import pytest
import torch
import torch.nn.functional as F

from lrfr.recognition.margins import AngleLinear, AngleSoftmaxLoss, lambda_schedule, psi_from_cos


@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_psi_monotonic_decreasing_on_0_pi(m):
    theta = torch.linspace(0, math.pi, 20001, dtype=torch.float64)
    psi = psi_from_cos(torch.cos(theta), m)
    assert torch.all(psi[1:] - psi[:-1] <= 1e-9)
    assert psi[0].item() == pytest.approx(1.0)
    assert psi[-1].item() == pytest.approx(1.0 - 2.0 * m)


@pytest.mark.parametrize("m", [2, 3, 4])
def test_psi_continuous_at_boundaries(m):
    for k in range(1, m):
        b = k * math.pi / m
        left = psi_from_cos(torch.tensor([math.cos(b - 1e-6)], dtype=torch.float64), m)
        right = psi_from_cos(torch.tensor([math.cos(b + 1e-6)], dtype=torch.float64), m)
        assert abs(left.item() - right.item()) < 1e-4, (m, k)
        assert left.item() == pytest.approx(1.0 - 2.0 * k, abs=1e-4)  # ψ(kπ/m) = 1 − 2k


def test_psi_matches_definition():
    theta = torch.tensor([0.1, 0.5, 1.0, 2.0, 3.0], dtype=torch.float64)
    for m in (1, 2, 3, 4):
        k = torch.floor(theta * m / math.pi)
        expect = (-1.0) ** k * torch.cos(m * theta) - 2 * k
        assert torch.allclose(psi_from_cos(torch.cos(theta), m), expect, atol=1e-9)


def test_lambda_schedule_hand_values():
    head = AngleLinear(4, 3)
    assert head.lambda_ == 1000.0  # it = 0
    assert lambda_schedule(1) == pytest.approx(1000 / 1.12)
    assert lambda_schedule(100) == pytest.approx(1000 / 13.0)
    assert lambda_schedule(1000) == pytest.approx(1000 / 121.0)
    assert lambda_schedule(1651) == pytest.approx(1000 / 199.12)  # just above the floor
    assert lambda_schedule(1659) == 5.0  # 1000/200.08 < 5 → floored
    assert lambda_schedule(10**6) == 5.0
    assert lambda_schedule(10, base=100, gamma=0.5, power=2, lambda_min=0) == pytest.approx(100 / 36)


def test_iteration_counter_advances_only_in_training_with_labels():
    head = AngleLinear(4, 3)
    x, y = torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 1])
    head(x)  # no labels
    head.eval()
    head(x, y)  # eval
    assert int(head.iteration) == 0
    head.train()
    head(x, y)
    head(x, y)
    assert int(head.iteration) == 2
    assert head.lambda_ == pytest.approx(1000 / (1 + 0.12 * 2))


def test_counter_survives_state_dict_roundtrip():
    head = AngleLinear(8, 5)
    x, y = torch.randn(4, 8), torch.tensor([0, 1, 2, 3])
    for _ in range(37):
        head(x, y)
    lam = head.lambda_
    assert "iteration" in head.state_dict()
    buf = io.BytesIO()
    torch.save(head.state_dict(), buf)
    buf.seek(0)
    fresh = AngleLinear(8, 5)
    assert fresh.lambda_ == 1000.0
    fresh.load_state_dict(torch.load(buf, weights_only=True))
    assert fresh.lambda_ == lam
    assert int(fresh.iteration) == 37


def test_m1_equals_plain_softmax_ce():
    torch.manual_seed(0)
    x, y = torch.randn(6, 4), torch.tensor([0, 1, 2, 0, 1, 2])
    for base in (1e9, 3.0, 0.0):
        head = AngleLinear(4, 3, m=1, base=base, lambda_min=0.0)
        logits = head(x, y)
        w = F.normalize(head.weight, dim=0)
        plain = (x @ w)  # = ‖x‖ cos θ
        assert torch.allclose(logits, plain, atol=1e-5)
        assert F.cross_entropy(logits, y).item() == pytest.approx(F.cross_entropy(plain, y).item(), abs=1e-5)


def test_huge_lambda_is_plain_softmax_for_any_m():
    torch.manual_seed(1)
    x, y = torch.randn(6, 4), torch.tensor([0, 1, 2, 0, 1, 2])
    head = AngleLinear(4, 3, m=4, base=1e12, lambda_min=1e12)
    plain = x @ F.normalize(head.weight, dim=0)
    assert torch.allclose(head(x, y), plain, atol=1e-5)


def test_margin_lowers_target_logit():
    torch.manual_seed(2)
    x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
    head = AngleLinear(4, 3, m=4, base=0.0, lambda_min=0.0)
    with_margin = head(x, y)
    head.eval()
    plain = head(x, y)
    tgt = lambda t: t.gather(1, y[:, None])  # noqa: E731
    assert torch.all(tgt(with_margin) <= tgt(plain) + 1e-6)
    off = torch.ones_like(plain, dtype=torch.bool).scatter(1, y[:, None], False)
    assert torch.equal(with_margin[off], plain[off])


@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_no_nan_at_theta_0_and_pi_and_zero_features(m):
    head = AngleLinear(3, 2, m=m, base=0.0, lambda_min=0.0)
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]))
    x = torch.tensor([[2.0, 0.0, 0.0],     # θ = 0 to class 0
                      [-3.0, 0.0, 0.0],    # θ = π to class 0
                      [0.0, 0.0, 0.0],     # zero feature
                      [1e-20, 0.0, 0.0],   # tiny feature
                      [0.0, 5.0, 0.0]], requires_grad=True)
    y = torch.tensor([0, 0, 0, 0, 1])
    logits = head(x, y)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    assert torch.isfinite(logits).all() and torch.isfinite(loss)
    assert torch.isfinite(x.grad).all() and torch.isfinite(head.weight.grad).all()
    assert logits[0, 0].item() == pytest.approx(2.0, abs=1e-5)  # ψ(0) = 1
    assert logits[1, 0].item() == pytest.approx(3.0 * (1 - 2 * m), abs=1e-4)  # ψ(π) = 1 − 2m


def test_tiny_training_run_decreases_loss():
    torch.manual_seed(0)
    centers = torch.tensor([[1.0, 0.0], [-0.5, 0.87], [-0.5, -0.87]])
    y = torch.randint(0, 3, (300,))
    x = centers[y] * 3 + 0.4 * torch.randn(300, 2)
    feat = torch.nn.Linear(2, 2)
    crit = AngleSoftmaxLoss(2, 3, m=4, base=10.0, gamma=0.1, lambda_min=1.0)
    opt = torch.optim.SGD(list(feat.parameters()) + list(crit.parameters()), lr=0.05, momentum=0.9)
    losses = []
    for _ in range(100):
        loss = crit(feat(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(math.isfinite(v) for v in losses)
    assert crit.lambda_ == 1.0 and int(crit.head.iteration) == 100
    assert sum(losses[-10:]) / 10 < 0.5 * sum(losses[:10]) / 10


def test_rejects_bad_m_and_shapes():
    with pytest.raises(ValueError, match="m must be"):
        AngleLinear(4, 3, m=5)
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        AngleLinear(4, 3)(torch.randn(2, 5))


# -- the combined margin (SphereFace m1, ArcFace m2, CosFace m3) -------------------------------------------------

def test_combined_margin_reads_like_its_formula():
    from lrfr.recognition.margins import CombinedMarginLinear

    torch.manual_seed(0)
    x, y = torch.randn(6, 8), torch.tensor([0, 1, 2, 3, 4, 0])
    plain = CombinedMarginLinear(8, 5, s=10.0, m1=1.0, m2=0.0, m3=0.0).train()
    assert torch.allclose(plain(x, y), plain(x))  # no margin: s · cos θ
    cos = F.normalize(x, dim=1) @ F.normalize(plain.weight, dim=0)
    assert torch.allclose(plain(x), 10.0 * cos, atol=1e-6)
    for m1, m2, m3 in [(1.0, 0.5, 0.0), (1.0, 0.0, 0.35), (2.0, 0.0, 0.0), (1.0, 0.3, 0.2)]:
        head = CombinedMarginLinear(8, 5, s=10.0, m1=m1, m2=m2, m3=m3).train()
        head.load_state_dict(plain.state_dict())
        out = head(x, y)
        theta = torch.acos(cos.gather(1, y[:, None]).clamp(-1 + 1e-7, 1 - 1e-7))
        want = torch.where(theta <= (math.pi - m2) / m1, torch.cos(m1 * theta + m2) - m3,
                           torch.cos(theta) - math.cos((math.pi - m2) / m1) - 1 - m3)
        assert torch.allclose(out.gather(1, y[:, None]), 10.0 * want, atol=1e-5)
        others = torch.ones_like(out, dtype=torch.bool).scatter(1, y[:, None], False)
        assert torch.allclose(out[others], 10.0 * cos[others], atol=1e-6)  # non-target logits untouched
        assert torch.allclose(head.eval()(x, y), 10.0 * cos, atol=1e-6)  # eval mode: no margin


def test_combined_margin_target_is_continuous_and_decreasing_on_0_pi():
    from lrfr.recognition.margins import CombinedMarginLinear

    head = CombinedMarginLinear(2, 2, m1=1.0, m2=0.5, m3=0.1)
    theta = torch.linspace(0, math.pi, 20_001, dtype=torch.float64)
    target = head.target_logit(torch.cos(theta))
    steps = target[1:] - target[:-1]
    assert float(steps.max()) <= 1e-9 and float(steps.abs().max()) < 1e-3


def test_combined_margin_refuses_faces_without_identity_and_takes_class_centres():
    from lrfr.recognition.margins import CombinedMarginLinear, build_head

    head = CombinedMarginLinear(4, 3).train()
    with pytest.raises(ValueError, match="labels below 0"):
        head(torch.randn(2, 4), torch.tensor([0, -1]))
    centres = torch.eye(3, 4) * 5
    head.set_centres(centres)
    assert torch.allclose(head.eval()(torch.eye(3, 4)), head.s * torch.eye(3), atol=1e-6)
    assert isinstance(build_head("asoftmax", 4, 3), AngleLinear)
    with pytest.raises(ValueError, match="unknown margin head 'cosface'; known: asoftmax, combined"):
        build_head("cosface", 4, 3)
