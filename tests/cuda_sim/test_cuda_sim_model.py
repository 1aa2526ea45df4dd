"""A whole FastRCNN on the "cuda" backend under numba's CUDA simulator: a tiny network, plain and
compressed by truncated SVD, gives the reference's outputs and gradients."""

import numpy as np
import pytest

from minifrcnn.model import FastRCNN
from minifrcnn.svd import compress


@pytest.mark.parametrize("ranks", [None, {"fc6": 4, "fc7": 3}])
def test_cuda_backend_runs_a_plain_and_a_compressed_network_like_the_reference(ranks):
    rng = np.random.default_rng(0)
    images = rng.standard_normal((1, 3, 16, 20)) * 64
    rois = np.array([[0, 0, 0, 19, 15], [0, 2, 3, 12, 9], [0, -3, 4, 25, 14]], np.float64)
    outputs = {}
    for backend in ("numpy", "cuda"):
        model = FastRCNN("tiny", ["__background__", "a", "b"], backend=backend,
                         dtype=np.float64, rng=np.random.default_rng(1))
        model.frozen = set()
        if ranks:
            model = compress(model, ranks)
        cls_score, bbox_pred = model.forward(images, rois, train=True,
                                             rng=np.random.default_rng(2))
        model.backward(np.ones_like(cls_score), np.ones_like(bbox_pred))
        outputs[backend] = (cls_score, bbox_pred, dict(model.grads))
    (c_ref, b_ref, g_ref), (c, b, g) = outputs["numpy"], outputs["cuda"]
    np.testing.assert_allclose(c, c_ref, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(b, b_ref, rtol=1e-9, atol=1e-9)
    assert g.keys() == g_ref.keys()
    if ranks:
        assert {"fc6_first.w", "fc6_second.w", "fc7_first.w"} <= g.keys()
    for key in g_ref:
        np.testing.assert_allclose(g[key], g_ref[key], rtol=1e-7, atol=1e-9, err_msg=key)
