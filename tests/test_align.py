"""Alignment: the similarity fit, the warp, MTCNN on a real face, and align_folder's report."""
from __future__ import annotations

import numpy as np
import pytest

from lrfr.data.align import (
    REPORT_NAME,
    SPHEREFACE_TEMPLATE,
    read_report,
    similarity_transform,
    template_for,
    warp_face,
)
from lrfr.io import read_image, write_image


def _similarity(angle_deg, scale, tx, ty):
    a = np.deg2rad(angle_deg)
    m = np.zeros((2, 3))
    m[:, :2] = scale * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    m[:, 2] = (tx, ty)
    return m


def _apply(m, pts):
    return pts @ m[:, :2].T + m[:, 2]


def test_similarity_transform_recovers_known():
    m = _similarity(23.0, 1.7, 12.5, -4.0)
    src = SPHEREFACE_TEMPLATE
    got = similarity_transform(src, _apply(m, src))
    assert got.shape == (2, 3)
    np.testing.assert_allclose(got, m, atol=1e-9)
    # least squares with noise still close
    rng = np.random.default_rng(0)
    noisy = _apply(m, src) + rng.normal(0, 0.05, size=src.shape)
    got = similarity_transform(src, noisy)
    np.testing.assert_allclose(got[:, :2], m[:, :2], atol=0.01)
    np.testing.assert_allclose(got[:, 2], m[:, 2], atol=0.3)


def test_similarity_transform_never_reflects():
    mirrored = SPHEREFACE_TEMPLATE * [-1, 1]
    m = similarity_transform(SPHEREFACE_TEMPLATE, mirrored)
    assert np.linalg.det(m[:, :2]) > 0
    with pytest.raises(ValueError):
        similarity_transform(np.zeros((5, 2)), SPHEREFACE_TEMPLATE)
    with pytest.raises(ValueError):
        similarity_transform(SPHEREFACE_TEMPLATE[:4], SPHEREFACE_TEMPLATE)


def test_template_scales_with_size():
    np.testing.assert_allclose(template_for((112, 96)), SPHEREFACE_TEMPLATE)
    np.testing.assert_allclose(template_for((224, 192)), 2 * SPHEREFACE_TEMPLATE)
    # 112x112: InsightFace's public template = SphereFace's shifted 8 px right
    np.testing.assert_allclose(template_for((112, 112))[0], [38.2946, 51.6963])


@pytest.mark.parametrize("size", [(112, 96), (128, 128)])
def test_warp_puts_landmarks_on_template(size):
    # landmarks of a rotated, scaled, shifted face; one bright disc per landmark, warped separately
    m = _similarity(-17.0, 2.3, 61.0, 38.0)
    landmarks = _apply(m, SPHEREFACE_TEMPLATE)
    yy, xx = np.mgrid[0:300, 0:280]
    target = template_for(size)
    for k, (x, y) in enumerate(landmarks):
        img = np.zeros((300, 280, 3), np.uint8)
        img[(xx - x) ** 2 + (yy - y) ** 2 <= 16] = 255
        out = warp_face(img, landmarks, size=size)
        assert out.shape == (*size, 3) and out.dtype == np.uint8
        w = out[..., 0].astype(float)
        oy, ox = np.mgrid[0 : size[0], 0 : size[1]]
        cx, cy = (w * ox).sum() / w.sum(), (w * oy).sum() / w.sum()
        assert abs(cx - target[k, 0]) < 0.3 and abs(cy - target[k, 1]) < 0.3, (k, cx, cy, target[k])


def test_warp_identity_and_shift():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (112, 96, 3), dtype=np.uint8)
    np.testing.assert_array_equal(warp_face(img, SPHEREFACE_TEMPLATE), img)
    # landmarks one pixel to the right → the face moves one pixel left, no rounding bias
    out = warp_face(img, SPHEREFACE_TEMPLATE + [1, 0])
    np.testing.assert_array_equal(out[:, :-1], img[:, 1:])
    assert (out[:, -1] == 0).all()  # outside the photo: black


# ---- MTCNN (facenet-pytorch, CPU): a handful of images ----


@pytest.fixture(scope="module")
def aligner():
    pytest.importorskip("facenet_pytorch")
    from lrfr.data.align import FaceAligner

    return FaceAligner(device="cpu", min_prob=0.9)


def _embed_in_canvas(img, angle=12.0, scale=1.8, canvas=250):
    """Rotate and enlarge an aligned 112×96 face into a gray canvas; returns the canvas and the map."""
    from PIL import Image

    m = _similarity(angle, scale, 0, 0)
    m[:, 2] = np.array([canvas / 2 - 0.5] * 2) - m[:, :2] @ np.array([47.5, 55.5])
    inv = np.linalg.inv(m[:, :2])
    t = -inv @ m[:, 2] - inv @ np.array([0.5, 0.5]) + 0.5  # PIL pixel-centre convention
    out = Image.fromarray(img).transform(
        (canvas, canvas), Image.AFFINE, (inv[0, 0], inv[0, 1], t[0], inv[1, 0], inv[1, 1], t[1]),
        resample=Image.BILINEAR, fillcolor=(128, 128, 128),
    )
    return np.asarray(out), m


def test_real_face_realigned(aligner, lfw_images):
    original = read_image(lfw_images / "Aaron_Eckhart" / "Aaron_Eckhart_0001.jpg")
    canvas, m = _embed_in_canvas(original)
    face = aligner.detect(canvas)
    assert face is not None and face.prob > 0.99
    assert face.landmarks.shape == (5, 2) and face.box.shape == (4,)
    # landmarks mapped back into the original crop sit near the template (it was aligned to it)
    back = (face.landmarks - m[:, 2]) @ np.linalg.inv(m[:, :2]).T
    assert np.abs(back - SPHEREFACE_TEMPLATE).max() < 7.0
    aligned = aligner.align(canvas)
    assert aligned.shape == (112, 96, 3) and aligned.dtype == np.uint8
    diff = np.abs(aligned.astype(float) - original.astype(float)) / 255
    assert diff[10:-10, 10:-10].mean() < 0.04, diff.mean()


def test_blank_image_has_no_face(aligner):
    blank = np.full((160, 160, 3), 200, np.uint8)
    assert aligner.detect(blank) is None
    assert aligner.align(blank) is None
    assert aligner.last_reason == "no face"


def test_align_folder_reports_every_failure(aligner, tmp_path, lfw_images):
    from lrfr.data.align import align_folder

    src, dst = tmp_path / "src", tmp_path / "dst"
    canvas, _ = _embed_in_canvas(read_image(lfw_images / "Aaron_Eckhart" / "Aaron_Eckhart_0001.jpg"))
    write_image(src / "Aaron" / "face.jpg", canvas)
    write_image(src / "Blank" / "blank.png", np.full((150, 140, 3), 30, np.uint8))
    (src / "Broken").mkdir()
    (src / "Broken" / "broken.jpg").write_bytes(b"\xff\xd8 garbage, not a jpeg")
    report = align_folder(src, dst, aligner=aligner, progress=False)
    assert (report.total, report.aligned, report.failed) == (3, 1, 2)
    assert read_image(dst / "Aaron" / "face.jpg").shape == (112, 96, 3)
    reasons = dict(report.failures)
    assert reasons["Blank/blank.png"] == "no face"
    assert reasons["Broken/broken.jpg"].startswith("unreadable image:") and "broken.jpg" in reasons["Broken/broken.jpg"]
    assert report.report_path == dst / REPORT_NAME
    assert dict(read_report(dst / REPORT_NAME)) == reasons
    assert "2 NOT aligned" in report.summary()
    # resuming skips what exists and reports the failures again
    again = align_folder(src, dst, aligner=aligner, progress=False)
    assert (again.skipped, again.aligned, again.failed) == (1, 0, 2)


def test_low_confidence_reason(lfw_images):
    pytest.importorskip("facenet_pytorch")
    from lrfr.data.align import FaceAligner

    strict = FaceAligner(min_prob=1.01)  # nothing passes: the reason names the probability
    canvas, _ = _embed_in_canvas(read_image(lfw_images / "Aaron_Eckhart" / "Aaron_Eckhart_0001.jpg"))
    assert strict.align(canvas) is None
    assert strict.last_reason.startswith("low confidence 0.9") and strict.last_reason.endswith("< 1.01")


def test_cli_align(tmp_path, capsys):
    pytest.importorskip("facenet_pytorch")
    from lrfr.cli import main

    src = tmp_path / "src"
    write_image(src / "a" / "x.jpg", np.full((112, 96, 3), 90, np.uint8))
    (src / "a" / "y.jpg").write_bytes(b"garbage")
    rc = main(["align", str(src), str(tmp_path / "dst"), "--quiet", "--size", "112x96", "--min-prob", "0.9"])
    out = capsys.readouterr()
    assert rc == 0
    assert "aligned 0 of 2" in out.out and "2 NOT aligned" in out.out and REPORT_NAME in out.out
    rows = dict(read_report(tmp_path / "dst" / REPORT_NAME))
    assert rows["a/x.jpg"] == "no face" and rows["a/y.jpg"].startswith("unreadable image")
    # every readable input is already 112x96 → warned (the unreadable one has no size)
    (src / "a" / "y.jpg").unlink()
    main(["align", str(src), str(tmp_path / "dst2"), "--quiet"])
    assert "already" in capsys.readouterr().err
    assert main(["align", str(tmp_path / "nope"), str(tmp_path / "dst3")]) == 2


def test_warp_crops_large_photo_consistently():
    # the face region cut from a large photo gives the same pixels as from a small one
    rng = np.random.default_rng(2)
    photo = rng.integers(0, 256, (600, 500, 3), dtype=np.uint8)
    lm = _apply(_similarity(8.0, 1.3, 200.0, 250.0), SPHEREFACE_TEMPLATE)
    small = photo[200:450, 150:400]
    np.testing.assert_array_equal(warp_face(photo, lm), warp_face(small, lm - [150, 200]))
    far = SPHEREFACE_TEMPLATE + 10_000  # face wholly outside: black, no crash
    assert warp_face(photo, far).max() == 0


# ------------------------------------------------------- tiny faces and already aligned crops (issue 18)
def test_tiny_images_never_meet_the_detector(aligner, tmp_path, capsys):
    from lrfr.cli import main
    from lrfr.data.align import TOO_SMALL, align_folder

    face, reason = aligner.align_with_reason(np.full((14, 12, 3), 120, np.uint8))
    assert face is None and reason.startswith(TOO_SMALL) and "14x12" in reason
    assert "carry its landmarks" in reason and "pre-aligned crops" in reason
    src = tmp_path / "lr"
    write_image(src / "a" / "tiny.png", np.full((14, 12, 3), 120, np.uint8))
    write_image(src / "a" / "small.png", np.full((32, 32, 3), 120, np.uint8))
    # a folder of nothing but tiny faces is refused up front, saying what to do instead
    assert main(["align", str(src), str(tmp_path / "dst"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "too small for the face detector" in err and "a/small.png: 32x32" in err and "pre-aligned crops" in err
    # among other images, each tiny one is reported with the reason
    write_image(src / "b" / "blank.png", np.full((150, 140, 3), 30, np.uint8))
    report = align_folder(src, tmp_path / "dst", aligner=aligner, progress=False)
    reasons = dict(report.failures)
    assert reasons["a/tiny.png"].startswith(TOO_SMALL) and reasons["a/small.png"].startswith(TOO_SMALL)
    assert reasons["b/blank.png"] == "no face"


def test_an_aligned_crop_is_reported_not_rewarped(aligner, tmp_path, lfw_images):
    from PIL import Image

    from lrfr.data.align import ALREADY_ALIGNED, align_folder

    src = tmp_path / "src"
    crop = src / "Aaron" / "crop.jpg"
    crop.parent.mkdir(parents=True)
    crop.write_bytes((lfw_images / "Aaron_Eckhart" / "Aaron_Eckhart_0001.jpg").read_bytes())
    # a 112x96 image that is not aligned: the face turned 20 degrees and shrunk into a grey frame
    face = np.asarray(Image.fromarray(read_image(crop)).rotate(20, resample=Image.BILINEAR).resize((60, 70)))
    frame = np.full((112, 96, 3), 128, np.uint8)
    frame[5:75, 30:90] = face
    write_image(src / "Aaron" / "frame.png", frame)

    report = align_folder(src, tmp_path / "dst", aligner=aligner, progress=False)
    assert [n for n, _ in report.already_aligned] == ["Aaron/crop.jpg"] and report.aligned == 1
    assert report.already_aligned[0][1].startswith(ALREADY_ALIGNED)
    assert (tmp_path / "dst" / "Aaron" / "crop.jpg").read_bytes() == crop.read_bytes()  # copied, not re-warped
    assert dict(read_report(tmp_path / "dst" / REPORT_NAME))["Aaron/crop.jpg"].startswith(ALREADY_ALIGNED)
    assert "1 already aligned, copied unchanged" in report.summary()
    # realign=True warps it anyway
    forced = align_folder(src, tmp_path / "dst2", progress=False, realign=True)
    assert forced.aligned == 2 and not forced.already_aligned
