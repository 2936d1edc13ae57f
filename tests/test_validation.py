"""The training-time validator: pairs map to the right images, and it reports HR and LR accuracy."""
import torch

from lrfr.data.folders import load_images
from lrfr.data.synth import SynthFaces
from lrfr.recognition import build
from lrfr.validation import PairValidator


def test_pairs_point_at_the_right_identities_and_both_accuracies_are_reported():
    faces = SynthFaces(n_identities=20, images_per_identity=4, seed=3)
    images = load_images(faces, progress=False)
    v = PairValidator(images, list(faces.names), faces.labels, n_folds=10, pairs_per_fold=3, scale=8)
    # every pair's images, traced back through the subset the validator keeps, have the labels its kind says
    kept = v.inputs["acc_hr"]
    labels_of_kept = [int(faces.labels[_index_of(images, img)]) for img in kept]
    for (a, b), same in zip(v.index, v.same):
        assert (labels_of_kept[a] == labels_of_kept[b]) == bool(same)
    assert len(v.same) == 60 and v.same.sum() == 30
    torch.manual_seed(0)
    out = v(build("sphere20a", width=0.125, embedding_dim=32))
    assert set(out) == {"acc_hr", "acc_lr_x8"} and all(0 <= x <= 1 for x in out.values())


def _index_of(images, img):
    hits = (images == img).flatten(1).all(1).nonzero()
    return int(hits[0])
