"""embed(): flip fusion, batching independence, input kinds, dtype, mode handling."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

import lrfr.recognition as rec
from lrfr.recognition import embed


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    # small crops keep the test fast; embed() is agnostic to the model's input size
    return rec.build("sphere20a", width=0.125, embedding_dim=32, input_size=(28, 24))


@pytest.fixture(scope="module")
def images():
    g = torch.Generator().manual_seed(1)
    return torch.rand(10, 3, 28, 24, generator=g)


def _manual(net, x):
    net.eval()
    with torch.no_grad():
        return net(x).numpy(), net(x.flip(-1)).numpy()


def test_flip_concat_and_sum_and_none(net, images):
    plain, flipped = _manual(net, images)
    cat = embed(net, images, flip="concat", batch_size=4)
    assert cat.shape == (10, 64) and cat.dtype == np.float32
    np.testing.assert_allclose(cat, np.concatenate([plain, flipped], 1), atol=1e-5)
    np.testing.assert_allclose(embed(net, images, flip="sum", batch_size=4), plain + flipped, atol=1e-5)
    none = embed(net, images, flip=None, batch_size=4)
    assert none.shape == (10, 32)
    np.testing.assert_allclose(none, plain, atol=1e-5)


def test_batch_size_independence(net, images):
    a = embed(net, images, batch_size=3)
    b = embed(net, images, batch_size=7)
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_channels_last_agrees_and_leaves_the_model_as_it_was(net, images):
    fast = embed(net, images, channels_last=True)
    np.testing.assert_allclose(fast, embed(net, images, channels_last=False), atol=1e-5)
    assert all(p.is_contiguous() for p in net.parameters())


class _Faces(Dataset):
    def __init__(self, x):
        self.x = x

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], i % 3, f"id{i % 3}/img{i}.jpg"


def test_dataset_and_iterable_inputs(net, images):
    ref = embed(net, images, batch_size=5)
    np.testing.assert_allclose(embed(net, _Faces(images), batch_size=4), ref, atol=1e-5)
    batches = [(images[:6], torch.zeros(6)), (images[6:], torch.zeros(4))]
    np.testing.assert_allclose(embed(net, batches), ref, atol=1e-5)
    np.testing.assert_allclose(embed(net, iter([images[:3], images[3:]])), ref, atol=1e-5)


def test_output_float32_restores_mode_and_no_grad(net, images):
    net.train()
    out = embed(net, images[:2].double(), flip=None)
    assert out.dtype == np.float32
    assert net.training  # mode restored
    net.eval()


def test_contract_checked_by_model(net):
    with pytest.raises(ValueError, match="28×24"):
        embed(net, torch.rand(2, 3, 64, 64))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        embed(net, torch.rand(2, 3, 28, 24) * 255)
    with pytest.raises(ValueError, match="flip"):
        embed(net, torch.rand(2, 3, 28, 24), flip="mean")
    with pytest.raises(TypeError):
        embed(net, np.zeros((2, 3, 28, 24), np.float32))


def test_amp_bf16_on_cpu_still_float32(net, images):
    out = embed(net, images[:2], flip=None, amp="bf16")
    assert out.dtype == np.float32
    ref = embed(net, images[:2], flip=None, amp="auto")  # fp32 on CPU
    np.testing.assert_allclose(out, ref, atol=0.1 * float(np.abs(ref).max()) + 1e-3)


@pytest.fixture(scope="module")
def bn_net():
    """A MobileFaceNet (BatchNorm after every conv) with non-trivial BN statistics."""
    torch.manual_seed(0)
    m = rec.build("mobilefacenet", embedding_dim=16, input_size=(32, 32))
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.2, 0.2)
                mod.running_var.uniform_(0.5, 2.0)
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.1, 0.1)
    return m.eval()


def test_folded_batchnorm_agrees_with_the_eager_recognizer_and_keeps_its_contract(bn_net):
    from lrfr.recognition.inference import FoldedRecognizer, inference_copy

    x = torch.rand(6, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    folded = embed(bn_net, x, fold_batchnorm=True, channels_last=False)
    eager = embed(bn_net, x, fold_batchnorm=False, channels_last=False)
    assert np.abs(eager).max() > 0.1
    np.testing.assert_allclose(folded, eager, atol=1e-5, rtol=1e-5)
    copy = inference_copy(bn_net)
    assert isinstance(copy, FoldedRecognizer)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in copy.modules())  # every BN was folded
    assert all(p.is_contiguous() for p in bn_net.parameters())  # the caller's model is untouched
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        embed(bn_net, x * 255, fold_batchnorm=True)
    with pytest.raises(ValueError, match="32×32"):
        embed(bn_net, torch.rand(2, 3, 28, 24), fold_batchnorm=True)


def test_the_folded_copy_is_reused_until_the_recognizer_changes(bn_net):
    from lrfr.recognition.inference import inference_copy

    first = inference_copy(bn_net)
    assert inference_copy(bn_net) is first
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    before = embed(bn_net, x, flip=None)
    bn = [m for m in bn_net.modules() if isinstance(m, torch.nn.BatchNorm2d)][-1]  # the embedding's BN
    with torch.no_grad():
        bn.running_mean.add_(0.5)  # an in-place change, as an optimizer step or BN update makes
    assert inference_copy(bn_net) is not first
    after = embed(bn_net, x, flip=None)
    np.testing.assert_allclose(after, embed(bn_net, x, flip=None, fold_batchnorm=False), atol=1e-5, rtol=1e-5)
    assert np.abs(after - before).max() > 0.1
    with torch.no_grad():
        bn.running_mean.sub_(0.5)


def test_modules_without_batchnorm_run_as_given(net):
    from lrfr.recognition.inference import inference_copy

    assert inference_copy(net) is None  # SphereFace has no BatchNorm
    assert inference_copy(torch.nn.Linear(3, 2)) is None  # not a recognizer
