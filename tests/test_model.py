"""FastRCNN: configurations, the whole-network gradient check, frozen layers, model files."""

import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import minifrcnn
from minifrcnn.gradcheck import network_case
from minifrcnn.model import CONFIGS, Config, FastRCNN, ModelFileError, param_shapes

CLASSES = ["__background__", "a", "b"]


def tiny(rng=None, dtype=np.float64, **changes):
    config = CONFIGS["tiny"]
    if changes:
        config = Config(**{**config.to_dict(), **changes})
    return FastRCNN(config, CLASSES, backend="numpy", dtype=dtype,
                    rng=np.random.default_rng(0) if rng is None else rng)


def batch(rng, dtype=np.float64):
    images = rng.standard_normal((2, 3, 12, 16)).astype(dtype)
    rois = np.array([[0, 0, 0, 15, 11], [0, 2, 3, 9, 8], [1, -2, 4, 7, 14]], dtype=dtype)
    return images, rois


def train_forward(model, images, rois):
    """A training forward with the same dropout units dropped on every call."""
    return model.forward(images, rois, train=True, rng=np.random.default_rng(0))


def test_public_name():
    assert minifrcnn.FastRCNN is FastRCNN


def test_the_model_does_not_import_the_voc_reader():
    """__background__ is defined once, in minifrcnn.model; the VOC reader takes it from there."""
    from minifrcnn.data import voc
    from minifrcnn.model import BACKGROUND

    assert voc.BACKGROUND is BACKGROUND == "__background__"
    code = "import sys, minifrcnn.model; print('minifrcnn.data.voc' in sys.modules)"
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                               check=True)
    assert completed.stdout.strip() == "False"


def test_vgg16_has_the_papers_shapes():
    shapes = param_shapes(CONFIGS["vgg16"], 21)
    convs = [key for key in shapes if key.startswith("conv") and key.endswith(".w")]
    assert len(convs) == 13
    assert shapes["conv1_1.w"] == (64, 3, 3, 3) and shapes["conv5_3.w"] == (512, 512, 3, 3)
    assert shapes["fc6.w"] == (4096, 512 * 7 * 7) and shapes["fc7.w"] == (4096, 4096)
    assert shapes["cls_score.w"] == (21, 4096) and shapes["bbox_pred.w"] == (84, 4096)
    config = CONFIGS["vgg16"]
    assert config.spatial_scale == 1 / 16 and config.roi_size == (7, 7)
    assert config.frozen == ("conv1_1", "conv1_2", "conv2_1", "conv2_2")
    assert config.crop_size == 224 and (config.scale, config.max_size) == (600, 1000)


def test_small_config():
    config = CONFIGS["small"]
    assert config.spatial_scale == 1 / 8 and config.crop_size == 96


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_whole_network_gradient_check(backend, seed):
    result = network_case(np.random.default_rng(seed), backend)
    assert result.passed, str(result)
    checked = {c.name for c in result.inputs}
    assert {"conv1_1.w", "conv2_1.b", "fc6.w", "fc7.b", "cls_score.w", "bbox_pred.b"} <= checked


def test_forward_shapes_and_dtype():
    rng = np.random.default_rng(1)
    for dtype in (np.float32, np.float64):
        model = tiny(dtype=dtype)
        images, rois = batch(rng, dtype)
        cls_score, bbox_pred = model.forward(images, rois)
        assert cls_score.shape == (3, 3) and bbox_pred.shape == (3, 12)
        assert cls_score.dtype == dtype and bbox_pred.dtype == dtype


def test_heads_are_initialised_as_in_the_paper():
    model = FastRCNN("small", ["__background__"] + [f"c{i}" for i in range(20)], backend="numpy")
    assert model.params["cls_score.w"].std() == pytest.approx(0.01, rel=0.05)
    assert model.params["bbox_pred.w"].std() == pytest.approx(0.001, rel=0.05)
    assert not model.params["cls_score.b"].any() and not model.params["bbox_pred.b"].any()


def test_dropout_only_in_training():
    model = tiny()
    images, rois = batch(np.random.default_rng(2))
    test_a = model.forward(images, rois)[0]
    test_b = model.forward(images, rois)[0]
    np.testing.assert_array_equal(test_a, test_b)
    train = model.forward(images, rois, train=True, rng=np.random.default_rng(0))[0]
    assert not np.allclose(train, test_a)
    with pytest.raises(ValueError, match="rng"):
        model.forward(images, rois, train=True)


def test_frozen_layers_get_no_gradient_and_stop_the_backward_pass():
    rng = np.random.default_rng(3)
    images, rois = batch(rng)
    dcls, dbbox = rng.standard_normal((3, 3)), rng.standard_normal((3, 12))
    free = tiny()
    train_forward(free, images, rois)
    free.backward(dcls, dbbox)

    bottom = tiny(frozen=("conv1_1",))
    assert "conv1_1.w" not in bottom.trainable()
    train_forward(bottom, images, rois)
    bottom.backward(dcls, dbbox)
    assert "conv1_1.w" not in bottom.grads and "conv1_1.b" not in bottom.grads
    for key in bottom.grads:
        np.testing.assert_allclose(bottom.grads[key], free.grads[key], rtol=1e-12)

    # A frozen layer in the middle still passes the gradient through to the layers below it.
    middle = tiny(frozen=("conv2_1",))
    train_forward(middle, images, rois)
    middle.backward(dcls, dbbox)
    assert "conv2_1.w" not in middle.grads
    np.testing.assert_allclose(middle.grads["conv1_1.w"], free.grads["conv1_1.w"], rtol=1e-12)


def test_a_test_time_forward_keeps_no_cache():
    model = tiny()
    images, rois = batch(np.random.default_rng(6))
    dcls, dbbox = np.ones((3, 3)), np.ones((3, 12))
    train_forward(model, images, rois)
    assert model._caches and model._head_caches is not None
    model.backward(dcls, dbbox)                       # a training forward can be undone

    # A test-time forward drops the previous pass's caches and keeps none of its own, so a
    # backward after it is refused instead of using stale caches.
    model.forward(images, rois)
    assert model._caches is None and model._head_caches is None
    with pytest.raises(RuntimeError, match="train=True"):
        model.backward(dcls, dbbox)
    with pytest.raises(RuntimeError, match="train=True"):
        model.trunk_backward(np.ones((3, model.config.fc[1])))
    model.classify_forward(np.zeros((1, 3, model.config.crop_size, model.config.crop_size)))
    assert model._caches is None


def test_test_time_forward_drops_every_layer_cache(monkeypatch):
    """No layer's cache outlives its layer at test time: every cache the backend hands out is
    garbage once forward returns (caches are tuples, so they are tracked through weak
    references to a marker object stored in each)."""
    import gc
    import weakref

    class Marker:
        pass

    model = tiny()
    alive = []

    def marking(forward):
        def wrapped(*args, **kwargs):
            out, cache = forward(*args, **kwargs)
            marker = Marker()
            alive.append(weakref.ref(marker))
            return out, (cache, marker)
        return wrapped

    def unmarking(backward):
        return lambda dout, cache: backward(dout, cache[0])

    ops = model.backend
    for name in ("conv2d", "relu", "maxpool2d", "roi_pool", "linear", "dropout"):
        monkeypatch.setattr(ops, f"{name}_forward", marking(getattr(ops, f"{name}_forward")))
        monkeypatch.setattr(ops, f"{name}_backward", unmarking(getattr(ops, f"{name}_backward")))
    images, rois = batch(np.random.default_rng(7))
    model.forward(images, rois)
    gc.collect()
    assert len(alive) == 2 * 2 + 1 + 1 + 3 * 2 + 2     # 2 convs, 1 pool, RoI pool, 2 fc, 2 heads
    assert all(ref() is None for ref in alive)

    alive.clear()
    train_forward(model, images, rois)
    gc.collect()
    assert all(ref() is not None for ref in alive)     # training keeps them for backward
    model.backward(np.ones((3, 3)), np.ones((3, 12)))
    assert set(model.grads) == set(model.trainable())


def test_an_unknown_layer_kind_is_refused_by_backward():
    model = tiny()
    images, rois = batch(np.random.default_rng(8))
    train_forward(model, images, rois)
    model._caches.append(("avgpool", None, None))
    with pytest.raises(ValueError, match="avgpool"):
        model.backward(np.ones((3, 3)), np.ones((3, 12)))


def test_classifier_trunk_uses_max_pool_on_crops():
    model = tiny()
    size = model.config.crop_size
    fc7 = model.classify_forward(np.random.default_rng(0).standard_normal((4, 3, size, size)))
    assert fc7.shape == (4, model.config.fc[1])
    with pytest.raises(ValueError, match="crops"):
        model.classify_forward(np.zeros((1, 3, size + 4, size + 4)))


def test_bad_calls():
    model = tiny()
    images, rois = batch(np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"rois must have shape \(R, 5\)"):
        model.forward(images, rois[:, :4])
    with pytest.raises(ValueError, match="float64"):
        model.forward(images.astype(np.float32), rois)
    with pytest.raises(ValueError, match="images"):
        model.forward(images[0], rois)
    with pytest.raises(RuntimeError, match="forward"):
        tiny().backward(np.zeros((3, 3)), np.zeros((3, 12)))
    with pytest.raises(ValueError, match="__background__"):
        FastRCNN("tiny", ["a", "b"])
    with pytest.raises(ValueError, match="config"):
        FastRCNN("huge", CLASSES)
    with pytest.raises(ValueError, match="frozen"):
        tiny(frozen=("conv9_9",))


def test_save_load_round_trip(tmp_path):
    model = tiny(dtype=np.float32)
    path = tmp_path / "m.npz"
    model.save(path)
    loaded = FastRCNN.load(path, backend="numpy")
    assert loaded.classes == CLASSES and loaded.config == model.config
    images, rois = batch(np.random.default_rng(4), np.float32)
    for a, b in zip(model.forward(images, rois), loaded.forward(images, rois)):
        np.testing.assert_array_equal(a, b)


def test_normalisation_is_folded_into_bbox_pred(tmp_path):
    model = tiny(dtype=np.float64)
    rng = np.random.default_rng(5)
    means, stds = rng.standard_normal((3, 4)) * 0.1, rng.uniform(0.05, 0.3, (3, 4))
    images, rois = batch(rng)
    _, normalised = model.forward(images, rois)
    model.save(tmp_path / "m.npz", bbox_means=means, bbox_stds=stds)
    _, raw = FastRCNN.load(tmp_path / "m.npz").forward(images, rois)
    np.testing.assert_allclose(raw, normalised * stds.reshape(-1) + means.reshape(-1), rtol=1e-12)
    # The model in memory keeps its training-time (normalised) weights.
    np.testing.assert_array_equal(model.forward(images, rois)[1], normalised)


def _rewrite(path, out, change):
    with np.load(path) as archive:
        arrays = {key: archive[key] for key in archive.files}
    change(arrays)
    np.savez(out, **arrays)


def test_model_file_errors_name_the_file(tmp_path):
    good = tmp_path / "good.npz"
    tiny(dtype=np.float32).save(good)
    data = good.read_bytes()

    cases = {}
    cases["missing.npz"] = ("no such file", None)
    (tmp_path / "text.npz").write_text("hello")
    cases["text.npz"] = ("not an .npz", None)
    (tmp_path / "half.npz").write_bytes(data[: len(data) // 2])
    cases["half.npz"] = ("truncated", None)
    np.savez(tmp_path / "foreign.npz", weights=np.zeros(3))
    cases["foreign.npz"] = ("not a minifrcnn model", None)
    np.savez(tmp_path / "pickled.npz", meta=np.array([{"format": 1}], dtype=object))
    cases["pickled.npz"] = ("pickled", None)

    def version(arrays):
        meta = json.loads(str(arrays["meta"]))
        meta["version"] = 99
        arrays["meta"] = np.array(json.dumps(meta))
    _rewrite(good, tmp_path / "version.npz", version)
    cases["version.npz"] = ("version 99", None)

    def shape(arrays):
        arrays["param/fc6.w"] = arrays["param/fc6.w"][:, :-1]
    _rewrite(good, tmp_path / "shape.npz", shape)
    cases["shape.npz"] = ("fc6.w has shape", None)

    def nan(arrays):
        arrays["param/fc7.b"] = arrays["param/fc7.b"] * np.nan
    _rewrite(good, tmp_path / "nan.npz", nan)
    cases["nan.npz"] = ("NaN", None)

    def missing(arrays):
        del arrays["param/cls_score.b"]
    _rewrite(good, tmp_path / "missing_param.npz", missing)
    cases["missing_param.npz"] = ("missing", None)

    def classes(arrays):
        meta = json.loads(str(arrays["meta"]))
        meta["classes"] = ["a", "b"]
        arrays["meta"] = np.array(json.dumps(meta))
    _rewrite(good, tmp_path / "classes.npz", classes)
    cases["classes.npz"] = ("not valid", None)

    for name, (message, _) in cases.items():
        with pytest.raises(ModelFileError, match=message) as info:
            FastRCNN.load(tmp_path / name)
        assert name in str(info.value)


def test_saving_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    tiny(dtype=np.float32).save(path)
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(np, "savez", broken)
    with pytest.raises(OSError):
        tiny(dtype=np.float32, fc=(8, 9)).save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]
    assert zipfile.is_zipfile(path)


def test_compile_kernels_calls_every_heavy_kernel_and_changes_nothing(monkeypatch):
    model = FastRCNN("tiny", ["__background__", "a", "b"], backend="numba", rng=np.random.default_rng(3))
    before = {key: value.copy() for key, value in model.params.items()}
    frozen = set(model.frozen)
    called = set()
    for name in ("conv2d_forward", "conv2d_backward", "maxpool2d_forward", "maxpool2d_backward",
                 "roi_pool_forward", "roi_pool_backward"):
        function = getattr(model.backend, name)
        monkeypatch.setattr(model.backend, name,
                            lambda *args, _f=function, _n=name, **kw: called.add(_n) or _f(*args, **kw))
    model.compile_kernels()
    assert called == {"conv2d_forward", "conv2d_backward", "maxpool2d_forward",
                      "maxpool2d_backward", "roi_pool_forward", "roi_pool_backward"}
    assert all(np.array_equal(model.params[key], before[key]) for key in before)
    assert model.frozen == frozen and model.grads == {}
    with pytest.raises(RuntimeError):
        model.backward(np.zeros((1, 3), np.float32), np.zeros((1, 12), np.float32))
