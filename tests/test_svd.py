"""Truncated SVD (minifrcnn.svd, paper section 3.1): the factorisation is the optimal one, its
shapes and errors; a compressed FastRCNN runs forward and backward (gradient-checked), folds its
box statistics, saves and loads back; `minifrcnn compress` reports, writes, and refuses bad input
in one line with nothing written."""

import numpy as np
import pytest

from minifrcnn.cli import main
from minifrcnn.data.synth import CLASSES as SYNTH_CLASSES
from minifrcnn.data.synth import write_synthetic_voc
from minifrcnn.gradcheck import network_case
from minifrcnn.model import FastRCNN, ModelFileError, read_npz, write_npz
from minifrcnn.svd import (compress, compression_report, rank_for_energy, relative_error,
                           singular_values, truncated_svd)

CLASSES = ["__background__", "a", "b"]


def decaying(rng, out, inputs, dtype=np.float64):
    """A matrix with singular values 1, 1/2, 1/3, ... (random singular vectors)."""
    u, _ = np.linalg.qr(rng.standard_normal((out, min(out, inputs))))
    v, _ = np.linalg.qr(rng.standard_normal((inputs, min(out, inputs))))
    s = 1.0 / np.arange(1, min(out, inputs) + 1)
    return ((u * s) @ v.T).astype(dtype)


# ------------------------------------------------------------------------- the factorisation


@pytest.mark.parametrize("out, inputs, rank", [(12, 30, 1), (12, 30, 5), (30, 12, 7), (9, 9, 9)])
def test_truncation_error_is_the_eckart_young_optimum(out, inputs, rank):
    w = np.random.default_rng(out + rank).standard_normal((out, inputs))
    w_first, w_second = truncated_svd(w, rank)
    assert w_first.shape == (rank, inputs) and w_second.shape == (out, rank)
    s = np.linalg.svd(w, compute_uv=False)
    squared_error = np.sum((w - w_second @ w_first) ** 2)
    np.testing.assert_allclose(squared_error, np.sum(s[rank:] ** 2), rtol=1e-9, atol=1e-20)
    np.testing.assert_allclose(relative_error(w, w_first, w_second),
                               np.sqrt(np.sum(s[rank:] ** 2) / np.sum(s ** 2)), atol=1e-12)


def test_factors_are_u_and_sigma_v():
    """w_second = U_t has orthonormal columns; w_first = S_t V_t^T has orthogonal rows whose
    norms are the singular values, largest first."""
    w = decaying(np.random.default_rng(1), 10, 20)
    w_first, w_second = truncated_svd(w, 4)
    np.testing.assert_allclose(w_second.T @ w_second, np.eye(4), atol=1e-12)
    np.testing.assert_allclose(w_first @ w_first.T, np.diag([1, 1 / 4, 1 / 9, 1 / 16]), atol=1e-12)


def test_full_rank_reproduces_the_layer_and_dtype_is_kept():
    w = np.random.default_rng(2).standard_normal((6, 8)).astype(np.float32)
    w_first, w_second = truncated_svd(w, 6)
    assert w_first.dtype == w_second.dtype == np.float32
    np.testing.assert_allclose(w_second @ w_first, w, atol=1e-5)


@pytest.mark.parametrize("rank", [0, -1, 7, 2.5, True])
def test_a_bad_rank_names_the_rank_and_the_bound(rank):
    with pytest.raises(ValueError, match="rank") as error:
        truncated_svd(np.ones((6, 9)), rank)
    if isinstance(rank, int) and not isinstance(rank, bool):
        assert "6" in str(error.value) and str(rank) in str(error.value)


def test_rank_for_energy():
    s = np.array([3.0, 2.0, 1.0, 0.0])           # squares 9, 4, 1: total 14
    assert rank_for_energy(s, 9 / 14) == 1
    assert rank_for_energy(s, 9 / 14 + 1e-6) == 2
    assert rank_for_energy(s, 13 / 14) == 2
    assert rank_for_energy(s, 1.0) == 3
    with pytest.raises(ValueError):
        rank_for_energy(s, 0)
    np.testing.assert_allclose(singular_values(decaying(np.random.default_rng(3), 5, 7)),
                               [1, 1 / 2, 1 / 3, 1 / 4, 1 / 5])


# ------------------------------------------------------------------------- a compressed model


def tiny(dtype=np.float64, backend="numpy"):
    model = FastRCNN("tiny", CLASSES, backend=backend, dtype=dtype, rng=np.random.default_rng(0))
    for key in model.params:
        model.params[key] = model.params[key] + 0.1       # non-zero biases
    return model


def inputs(dtype=np.float64):
    rng = np.random.default_rng(5)
    images = (rng.standard_normal((1, 3, 32, 40)) * 64).astype(dtype)
    rois = np.array([[0, 0, 0, 39, 31], [0, 4, 5, 20, 30], [0, 10, 2, 35, 12]], dtype)
    return images, rois


def test_compress_factors_the_named_layers_and_leaves_the_original_alone():
    model = tiny()
    before = {key: value.copy() for key, value in model.params.items()}
    small = compress(model, {"fc6": 4, "fc7": 3})
    assert small.config.ranks == {"fc6": 4, "fc7": 3}
    assert model.config.ranks == {} and model.params.keys() == before.keys()
    assert all(np.array_equal(model.params[k], before[k]) for k in before)
    assert small.params["fc6_first.w"].shape == (4, 6 * 2 * 2)
    assert small.params["fc6_second.w"].shape == (8, 4)
    assert small.params["fc6_second.b"].shape == (8,)
    assert "fc6.w" not in small.params and "fc6_first.b" not in small.params
    np.testing.assert_array_equal(small.params["fc6_second.b"], model.params["fc6.b"])
    assert small.frozen == model.frozen


def test_at_full_rank_the_compressed_network_computes_the_same_outputs():
    model = tiny()
    full = compress(model, {"fc6": 8, "fc7": 8, "cls_score": 3, "bbox_pred": 8})
    images, rois = inputs()
    for a, b in zip(model.forward(images, rois), full.forward(images, rois)):
        np.testing.assert_allclose(a, b, atol=1e-10)


def test_compress_by_energy_keeps_that_fraction_per_layer():
    model = tiny()
    small = compress(model, energy=0.9)
    for name in ("fc6", "fc7"):
        s = singular_values(model.params[f"{name}.w"])
        rank = small.config.ranks[name]
        assert np.sum(s[:rank] ** 2) >= 0.9 * np.sum(s ** 2) > np.sum(s[:rank - 1] ** 2)


def test_compress_refuses_a_compressed_layer_an_unknown_layer_and_a_bad_rank():
    small = compress(tiny(), {"fc6": 4})
    with pytest.raises(ValueError, match="fc6 is already compressed"):
        compress(small, {"fc6": 2})
    with pytest.raises(ValueError, match="conv1_1"):
        compress(small, {"conv1_1": 2})
    with pytest.raises(ValueError, match="fc7.*8"):
        compress(small, {"fc7": 9})
    both = compress(small, {"fc7": 2})                     # another layer still can be
    assert both.config.ranks == {"fc6": 4, "fc7": 2}
    assert compress(small, energy=0.9).config.ranks["fc6"] == 4      # energy: fc7 only
    with pytest.raises(ValueError, match="fc6 and fc7 are already compressed"):
        compress(both, energy=0.9)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_the_compressed_network_passes_the_whole_network_gradient_check(backend):
    result = network_case(np.random.default_rng(0), backend, ranks={"fc6": 4, "fc7": 3})
    assert result.passed, str(result)
    assert {"fc6_first.w", "fc6_second.w", "fc6_second.b", "fc7_first.w"} <= {
        c.name for c in result.inputs}


def test_a_frozen_fc6_freezes_both_of_its_factors():
    small = compress(tiny(), {"fc6": 4})
    small.frozen = {"fc6"}
    assert not {"fc6_first.w", "fc6_second.w", "fc6_second.b"} & set(small.trainable())
    images, rois = inputs()
    cls_score, bbox_pred = small.forward(images, rois, train=True, rng=np.random.default_rng(0))
    small.backward(np.ones_like(cls_score), np.ones_like(bbox_pred))
    assert set(small.grads) == set(small.trainable())


def test_numba_and_numpy_agree_on_a_compressed_model():
    images, rois = inputs(np.float32)
    outputs = [compress(tiny(np.float32, backend), {"fc6": 3, "fc7": 2}).forward(images, rois)
               for backend in ("numpy", "numba")]
    for a, b in zip(*outputs):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_box_statistics_fold_into_and_out_of_a_factored_bbox_pred():
    small = compress(tiny(), {"bbox_pred": 5})
    rng = np.random.default_rng(4)
    means, stds = rng.standard_normal((3, 4)) * 0.1, rng.uniform(0.1, 0.3, (3, 4))
    images, rois = inputs()
    raw = small.forward(images, rois)[1]
    folded = small.folded_params(means, stds)
    assert not np.allclose(folded["bbox_pred_second.w"], small.params["bbox_pred_second.w"])
    small.params = folded
    np.testing.assert_allclose(small.forward(images, rois)[1],
                               raw * stds.reshape(-1) + means.reshape(-1), atol=1e-10)
    small.params = small.unfolded_params(means, stds)
    np.testing.assert_allclose(small.forward(images, rois)[1], raw, atol=1e-10)


def test_a_compressed_model_file_round_trips(tmp_path):
    small = compress(tiny(np.float32), {"fc6": 4, "fc7": 3})
    path = tmp_path / "small.npz"
    small.save(path)
    loaded = FastRCNN.load(path, backend="numpy")
    assert loaded.config == small.config and loaded.config.ranks == {"fc6": 4, "fc7": 3}
    assert all(np.array_equal(loaded.params[k], small.params[k]) for k in small.params)
    images, rois = inputs(np.float32)
    np.testing.assert_array_equal(loaded.forward(images, rois)[0], small.forward(images, rois)[0])


def test_a_rank_that_disagrees_with_the_stored_factors_is_a_clear_error(tmp_path):
    path = tmp_path / "small.npz"
    compress(tiny(np.float32), {"fc6": 4}).save(path)
    arrays, meta = read_npz(path)
    meta["config"]["svd"] = [["fc6", 5]]
    write_npz(path, arrays, meta)
    with pytest.raises(ModelFileError, match=r"fc6_first.w has shape \(4, 24\).*fc6 compressed "
                                             r"to rank 5.*\(5, 24\)"):
        FastRCNN.load(path)
    meta["config"]["svd"] = [["fc6", 99]]
    write_npz(path, arrays, meta)
    with pytest.raises(ModelFileError, match="fc6 rank 99.*1 to 8"):
        FastRCNN.load(path)


def test_compression_report_counts_parameters_and_multiply_adds():
    model = tiny()
    (fc6,) = compression_report(model, compress(model, {"fc6": 4}))
    assert (fc6.layer, fc6.shape, fc6.rank) == ("fc6", (8, 24), 4)
    assert (fc6.params_before, fc6.params_after) == (8 * 24 + 8, 4 * 24 + 8 * 4 + 8)
    assert (fc6.macs_before, fc6.macs_after) == (8 * 24, 4 * (24 + 8))
    s = singular_values(model.params["fc6.w"])
    np.testing.assert_allclose(fc6.relative_error, np.sqrt(np.sum(s[4:] ** 2) / np.sum(s ** 2)))


# ------------------------------------------------------------------------- the command


@pytest.fixture(scope="module")
def voc_and_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("voc")
    write_synthetic_voc(root, 2, 2, seed=0, progress=False)
    path = root / "model.npz"
    FastRCNN("tiny", ["__background__", *SYNTH_CLASSES], rng=np.random.default_rng(0)).save(path)
    return root, path


def test_compress_command_reports_and_writes_a_model_that_evaluates(voc_and_model, tmp_path,
                                                                     capsys):
    root, path = voc_and_model
    out = tmp_path / "small.npz"
    assert main(["compress", str(path), "--out", str(out), "--fc6", "4", "--fc7", "2",
                 "--data", str(root), "--backend", "numpy"]) == 0
    printed = capsys.readouterr().out
    for text in ("fc6", "fc7", "relative error", "multiply-adds per RoI", "selective-search",
                 "before", "after", "mAP on test", f"wrote {out}"):
        assert text in printed
    assert FastRCNN.load(out).config.ranks == {"fc6": 4, "fc7": 2}
    assert main(["evaluate", str(out), str(root), "--json", "--plot",
                 str(tmp_path / "pr.png")]) == 0
    assert main(["detect", str(out), str(root / "JPEGImages" / "000001.jpg"), "--out",
                 str(tmp_path / "det")]) == 0


def test_compress_command_without_data_times_a_synthetic_image(voc_and_model, tmp_path, capsys):
    _, path = voc_and_model
    assert main(["compress", str(path), "--out", str(tmp_path / "e.npz"), "--energy", "0.9",
                 "--backend", "numpy"]) == 0
    assert "synthetic" in capsys.readouterr().out and (tmp_path / "e.npz").exists()


@pytest.mark.parametrize("options, status, message", [
    (["--fc6", "9"], 1, "rank of fc6 must be between 1 and min(out, in) = 8"),
    (["--fc6", "0"], 2, "--fc6: must be a positive integer, got '0'"),
    (["--fc6", "4", "--energy", "0.9"], 2, "not both"),
    ([], 2, "give --fc6 RANK and/or --fc7 RANK, or --energy E"),
    (["--energy", "0"], 2, "--energy: must be above 0"),
])
def test_compress_command_refuses_bad_ranks_in_one_line(voc_and_model, tmp_path, capsys,
                                                        options, status, message):
    _, path = voc_and_model
    out = tmp_path / "c.npz"
    assert main_exit(["compress", str(path), "--out", str(out), *options]) == status
    err = capsys.readouterr().err.strip()
    assert err.startswith("minifrcnn compress: ") and message in err and "\n" not in err
    assert not out.exists()


def test_compress_command_refuses_a_compressed_missing_or_foreign_model(voc_and_model, tmp_path,
                                                                        capsys):
    _, path = voc_and_model
    once = tmp_path / "once.npz"
    assert main(["compress", str(path), "--out", str(once), "--fc6", "4",
                 "--backend", "numpy"]) == 0
    capsys.readouterr()
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, x=np.zeros(3))
    out = tmp_path / "c.npz"
    for model, message in ((once, "fc6 is already compressed"),
                           (tmp_path / "missing.npz", "no such file"),
                           (foreign, "not a minifrcnn model")):
        assert main(["compress", str(model), "--out", str(out), "--fc6", "2"]) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith("minifrcnn compress: ") and message in err and "\n" not in err
    assert not out.exists()


def main_exit(argv):
    """main(argv), with a usage error's SystemExit turned into its status."""
    try:
        return main(argv)
    except SystemExit as exit_:
        return exit_.code
