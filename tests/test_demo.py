"""`lrfr demo` end to end; it also checks the packaged networks do their job: held-out synthetic
identities verify well at 112×96 and clearly worse at bicubic 14×12, and the packaged SRResNet and
SRGAN, C-Face and the papers' generators close part of that gap (better PSNR and accuracy than bicubic)."""
import pandas as pd
import pytest

from lrfr.cli import main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """One ``lrfr demo`` run (with the real-face part where ../shared is beside the checkout), and what it printed."""
    import contextlib
    import io

    out = tmp_path_factory.mktemp("demo")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["demo", "--out", str(out), "--quiet"]) == 0
    return out, printed.getvalue()


def test_demo_writes_outputs_and_shows_the_low_resolution_gap(demo):
    tmp_path, printed = demo
    for name in ("grid.png", "results.csv", "results.json", "roc.png", "cmc.png"):
        assert (tmp_path / name).stat().st_size > 0
    table = pd.read_csv(tmp_path / "results.csv").set_index(["protocol", "sr"])
    hr, bic = table.loc[("lfw", "hr"), "accuracy_mean"], table.loc[("lfw", "bicubic"), "accuracy_mean"]
    print(f"\npackaged sphere20a on held-out SynthFaces: HR {hr:.4f}, bicubic 14×12 {bic:.4f}")
    assert hr > 0.95
    assert bic < hr - 0.10
    vr_hr = table.loc[("blufr", "hr"), "vr@far=0.1%_mean_minus_std"]
    vr_bic = table.loc[("blufr", "bicubic"), "vr@far=0.1%_mean_minus_std"]
    assert vr_bic < vr_hr - 0.3
    for front_end in ("srresnet", "srgan", "cface-v2", "gafh_ridn_synth", "pfsr_synth", "prior_attention_synth"):
        row = table.loc[("lfw", front_end)]
        print(f"{front_end}: accuracy {row['accuracy_mean']:.4f}, PSNR {row['psnr']:.2f} dB")
        assert row["accuracy_mean"] > bic + 0.05
        assert row["psnr"] > table.loc[("lfw", "bicubic"), "psnr"]
        assert table.loc[("blufr", front_end), "vr@far=0.1%_mean_minus_std"] > vr_bic
    # method 2 of the prior-attention thesis (its method 1 + a GAN) clears the shipping rule: above bicubic on both
    row = table.loc[("lfw", "prior_attention_gan_synth")]
    assert row["accuracy_mean"] > bic and row["psnr"] > table.loc[("lfw", "bicubic"), "psnr"]
    # C-Face's compare-face fine-tuning of the SRGAN keeps more identity than the SRGAN it started from
    assert table.loc[("lfw", "cface-v2"), "accuracy_mean"] > table.loc[("lfw", "srgan"), "accuracy_mean"]
    dir_ = "dir@rank=1,far=1%_mean_minus_std"
    assert table.loc[("blufr", "cface-v2"), dir_] > table.loc[("blufr", "srgan"), dir_]
    assert "demo finished" in printed


@pytest.mark.realdata
def test_demo_scores_the_packaged_real_face_generators_when_lfw_is_at_hand(demo, lfw_root, mobilefacenet_weights):
    """With real LFW and the CASIA MobileFaceNet (``../shared``), the demo adds the CelebA-trained generators on a
    600-pair LFW subset: the committed files' own subset figures (results/real-8x.csv), far above bicubic."""
    table = pd.read_csv(demo[0] / "real_faces.csv").set_index("sr")["accuracy_mean"]
    committed = pd.read_csv(__import__("pathlib").Path(__file__).resolve().parents[1] / "results" / "real-8x.csv")
    subset = committed[(committed["protocol"] == "lfw_subset600") & (committed["seed"] == 0)].set_index("front_end")
    assert table["srgan-celeba"] == pytest.approx(subset.loc["srgan", "accuracy_mean"], abs=0.01)
    assert table["cface-v2"] == pytest.approx(subset.loc["cface_v2", "accuracy_mean"], abs=0.01)
    assert min(table["srgan-celeba"], table["cface-v2"]) > table["bicubic"] + 0.05


def test_demo_searches_a_watchlist_of_probe_files(demo):
    """The deployment step: 30 enrolled SynthFaces identities, 14x12 probe files; the packaged C-Face in front of
    the sphere20a finds far more of them first than bicubic does."""
    table = pd.read_csv(demo[0] / "watchlist.csv").set_index("pipeline")
    assert set(table["enrolled"]) == {30} and set(table["known_probes"]) == {60} and set(table["unknown_probes"]) == {60}
    assert table.loc["cface-v2 + sphere20a", "rank1"] > table.loc["bicubic + sphere20a", "rank1"] + 0.3
    assert "[4/4] deployment" in demo[1]


@pytest.mark.realdata
def test_demo_searches_an_lfw_watchlist_through_the_presets(demo, lfw_root, mobilefacenet_weights):
    """With LFW at hand: the deployment presets' rank-1 is at least twice bicubic's on the demo's LFW watchlist."""
    table = pd.read_csv(demo[0] / "real_watchlist.csv").set_index("pipeline")
    for preset in ("camera", "lr14x12"):
        assert table.loc[f"preset {preset}", "rank1"] >= 2 * table.loc["preset bicubic", "rank1"], preset
