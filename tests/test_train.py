"""Training: SGD by hand, resume equals an uninterrupted run, the NaN stop, pretraining, the CLI."""

import shutil
import subprocess
import sys

import numpy as np
import pytest

from minifrcnn import train as train_module
from minifrcnn.data.synth import write_synthetic_voc
from minifrcnn.model import FastRCNN, ModelFileError, read_npz
from minifrcnn.pretrain import init_from_model, to_detector
from minifrcnn.sgd import SGD
from minifrcnn.train import CHECKPOINT_FORMAT, TrainingError, TrainSettings, train, train_step


@pytest.fixture(scope="module")
def dataset_root(tmp_path_factory):
    """Six synthetic images with their proposals cached once for the whole module."""
    root = tmp_path_factory.mktemp("data")
    write_synthetic_voc(root, 6, 2, seed=0, progress=False)
    train_module.prepare_data(TrainSettings(data=str(root), out=str(root / "x.npz"), iters=1),
                              progress=False, log=lambda text: None)
    return root


def settings(root, out, **changes):
    values = dict(data=str(root), out=str(out), config="tiny", iters=6, seed=3,
                  checkpoint_every=2, backend="numpy")
    values.update(changes)
    return TrainSettings(**values)


def quiet(s, **kwargs):
    return train(s, progress=False, log=lambda text: None, **kwargs)


def loaded_after_importing(module):
    """The minifrcnn modules a fresh interpreter has loaded after `import module`."""
    code = (f"import sys, {module}; "
            "print(sorted(name for name in sys.modules if name.startswith('minifrcnn')))")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                               check=True)
    return completed.stdout


def test_pretraining_does_not_import_training():
    """train imports pretrain; pretrain (and the schedule both share) must not import train,
    or the two would form an import cycle."""
    for module in ("minifrcnn.pretrain", "minifrcnn.schedule"):
        assert "'minifrcnn.train'" not in loaded_after_importing(module), module


def test_sgd_update_by_hand():
    params = {"fc.w": np.array([1.0, -2.0]), "fc.b": np.array([0.5])}
    sgd = SGD(params, ["fc.w", "fc.b"], momentum=0.9, weight_decay=0.1)
    grads = {"fc.w": np.array([0.2, 0.4]), "fc.b": np.array([1.0])}
    sgd.step(grads, lr=0.5)
    # v = lr (g + wd w) for weights, 2 lr g for biases; w -= v
    np.testing.assert_allclose(sgd.velocity["fc.w"], [0.5 * (0.2 + 0.1), 0.5 * (0.4 - 0.2)])
    np.testing.assert_allclose(params["fc.w"], [1.0 - 0.15, -2.0 - 0.1])
    np.testing.assert_allclose(params["fc.b"], [0.5 - 1.0])
    sgd.step(grads, lr=0.5)
    v_w = 0.9 * np.array([0.15, 0.1]) + 0.5 * (np.array([0.2, 0.4]) + 0.1 * np.array([0.85, -2.1]))
    np.testing.assert_allclose(params["fc.w"], [0.85, -2.1] - v_w)
    np.testing.assert_allclose(params["fc.b"], [-0.5 - (0.9 * 1.0 + 1.0)])


def test_a_run_writes_model_and_checkpoint(dataset_root, tmp_path):
    s = settings(dataset_root, tmp_path / "m.npz")
    model, state = quiet(s)
    assert state.iteration == 6 and len(state.history.loss) == 6
    history = state.history
    # The heads start near zero: the first classification loss is a uniform guess's, log(K+1).
    assert history.loss_cls[0] == pytest.approx(np.log(model.num_classes), abs=0.1)
    np.testing.assert_allclose(history.loss, np.add(history.loss_cls, history.loss_box), rtol=1e-6)
    loaded = FastRCNN.load(s.out)
    assert loaded.classes == model.classes and loaded.config.name == "tiny"
    # train returns the model as saved: normalisation folded in, raw deltas out.
    for key in model.params:
        np.testing.assert_array_equal(model.params[key], loaded.params[key].astype(model.dtype))
    _, meta = read_npz(s.checkpoint_path, expected_format=CHECKPOINT_FORMAT)
    assert meta["iteration"] == 6
    # The learning rate drops 10x at 75 % of the iterations.
    assert state.history.lr[:4] == [s.lr] * 4
    assert state.history.lr[5] == pytest.approx(s.lr * 0.1)


@pytest.mark.parametrize("options", [{"shuffle_colours": False}, {"shuffle_colours": True},
                                     {"transpose": True, "bg_lo": 0.0}])
def test_resume_reaches_the_weights_of_an_uninterrupted_run(dataset_root, tmp_path, monkeypatch,
                                                            options):
    whole, _ = quiet(settings(dataset_root, tmp_path / "whole.npz", **options))

    # Stop the second run during its fifth iteration: the checkpoint of iteration 4 survives.
    calls = {"n": 0}
    real = train_module.get_minibatch

    def stop_at_fifth(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(train_module, "get_minibatch", stop_at_fifth)
    s = settings(dataset_root, tmp_path / "cut.npz", **options)
    with pytest.raises(KeyboardInterrupt):
        quiet(s)
    _, meta = read_npz(s.checkpoint_path, expected_format=CHECKPOINT_FORMAT)
    assert meta["iteration"] == 4
    monkeypatch.setattr(train_module, "get_minibatch", real)

    resumed, state = quiet(settings(dataset_root, tmp_path / "cut.npz", resume=True, **options))
    assert state.iteration == 6 and len(state.history.loss) == 6
    for key in whole.params:
        np.testing.assert_array_equal(resumed.params[key], whole.params[key], err_msg=key)
    assert (tmp_path / "cut.npz").read_bytes() == (tmp_path / "whole.npz").read_bytes()


def refuse_to_read_data(monkeypatch):
    """Make reading the dataset (and computing its proposals) fail the test."""
    def prepare_data(*args, **kwargs):
        raise AssertionError("the data was read before the settings were checked")
    monkeypatch.setattr(train_module, "prepare_data", prepare_data)


def test_resume_without_a_checkpoint_is_refused_before_the_data(tmp_path, monkeypatch):
    refuse_to_read_data(monkeypatch)
    s = settings(tmp_path / "data", tmp_path / "m.npz", resume=True)
    with pytest.raises(TrainingError, match=r"no checkpoint at .*m\.ckpt\.npz.*without --resume"):
        quiet(s)
    assert not (tmp_path / "m.ckpt.npz").exists()


def test_an_unusable_init_file_is_refused_before_the_data(tmp_path, monkeypatch):
    refuse_to_read_data(monkeypatch)
    png = tmp_path / "picture.npz"                   # a PNG renamed .npz
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    for path, message in ((tmp_path / "missing.npz", "missing.npz: no such file"),
                          (png, "picture.npz: not a minifrcnn model file")):
        with pytest.raises(ModelFileError, match=message):
            quiet(settings(tmp_path / "data", tmp_path / "m.npz", init=str(path)))
    # The shipped model is a `small` one: refused for `tiny` by its layers, still before the data.
    with pytest.raises(ModelFileError, match="stages"):
        quiet(settings(tmp_path / "data", tmp_path / "m.npz", init="shapes"))


def test_train_step_returns_the_loss_and_its_terms_and_updates_the_weights(dataset_root):
    from minifrcnn.data.minibatch import MinibatchSampler, get_minibatch, target_stats
    from minifrcnn.layers import multitask_loss

    dataset, roidb = train_module.prepare_data(settings(dataset_root, "m.npz"), progress=False,
                                               log=lambda text: None)
    model = FastRCNN("tiny", dataset.classes, backend="numpy")
    rng = np.random.default_rng(0)
    means, stds = target_stats(roidb, model.num_classes)
    batch = get_minibatch(MinibatchSampler(roidb, rng=rng).next_batch(), model.num_classes, means,
                          stds, rng, scales=(32,), max_size=48, pixel_mean=model.config.pixel_mean)
    before = {key: value.copy() for key, value in model.params.items()}
    cls_score, bbox_pred = model.forward(batch.images, batch.rois, train=True,
                                         rng=np.random.default_rng(1))
    expected = multitask_loss(cls_score, bbox_pred, batch.labels, batch.bbox_targets,
                              batch.bbox_weights)

    loss, loss_cls, loss_box = train_step(model, batch, SGD(model.params, model.trainable()),
                                          0.01, np.random.default_rng(1))
    assert (loss, loss_cls, loss_box) == (float(expected.loss), float(expected.loss_cls),
                                          float(expected.loss_box))
    assert loss_box > 0 and loss_cls == pytest.approx(np.log(model.num_classes), abs=0.05)
    changed = [key for key in model.params if not np.array_equal(model.params[key], before[key])]
    assert sorted(changed) == sorted(model.trainable())


def test_train_step_refuses_a_non_finite_loss_before_changing_a_weight():
    from minifrcnn.data.minibatch import Minibatch

    model = FastRCNN("tiny", ["__background__", "a"], backend="numpy")
    model.params["cls_score.b"][:] = np.inf
    before = {key: value.copy() for key, value in model.params.items()}
    batch = Minibatch(np.zeros((1, 3, 16, 16), np.float32),
                      np.array([[0, 0, 0, 15, 15]], np.float32), np.array([1]),
                      np.zeros((1, 8), np.float32), np.zeros((1, 8), np.float32), np.ones(1))
    with pytest.raises(TrainingError, match="diverged"):
        train_step(model, batch, SGD(model.params, model.trainable()), 0.01,
                   np.random.default_rng(0))
    for key, value in model.params.items():
        np.testing.assert_array_equal(value, before[key])


def test_resume_with_other_settings_is_refused(dataset_root, tmp_path):
    quiet(settings(dataset_root, tmp_path / "m.npz", iters=2))
    with pytest.raises(TrainingError, match="seed"):
        quiet(settings(dataset_root, tmp_path / "m.npz", iters=2, seed=4, resume=True))
    for change in ({"transpose": True}, {"bg_lo": 0.0}):
        with pytest.raises(TrainingError, match=next(iter(change))):
            quiet(settings(dataset_root, tmp_path / "m.npz", iters=2, resume=True, **change))


def test_a_checkpoint_from_before_lam_and_train_from_still_resumes(dataset_root, tmp_path):
    from minifrcnn.model import write_npz

    run = settings(dataset_root, tmp_path / "m.npz", iters=4)
    quiet(run)
    arrays, meta = read_npz(run.checkpoint_path, expected_format=CHECKPOINT_FORMAT)
    for key in ("lam", "train_from"):                     # as an older version wrote it
        del meta["settings"][key]
    write_npz(run.checkpoint_path, arrays, meta)
    _, state = quiet(settings(dataset_root, tmp_path / "m.npz", iters=4, resume=True))
    assert state.iteration == 4
    with pytest.raises(TrainingError, match="lam differ"):
        quiet(settings(dataset_root, tmp_path / "m.npz", iters=4, resume=True, lam=0.5))


def test_a_diverging_loss_stops_with_a_message(dataset_root, tmp_path):
    s = settings(dataset_root, tmp_path / "m.npz", lr=1e12)
    with pytest.raises(TrainingError, match=r"diverged at iteration \d+\. Try a smaller learning "
                       r"rate \(--lr, now 1e\+12\)"):
        quiet(s)
    assert not (tmp_path / "m.npz").exists()
    # The checkpoint written before the first step is intact and loadable.
    _, meta = read_npz(s.checkpoint_path, expected_format=CHECKPOINT_FORMAT)
    assert meta["iteration"] == 0


def test_pretraining_then_conversion(dataset_root, tmp_path):
    from minifrcnn.pretrain import CROPS_PER_BATCH

    s = settings(dataset_root, tmp_path / "m.npz", pretrain=True, iters=8)
    logged = []
    model, state = train(s, progress=False, log=logged.append)
    history = state.history.pretrain
    assert len(history) == 2                      # a quarter of the iterations
    # fc8 starts near zero, so the first loss is that of a uniform guess over K + 1 classes;
    # an accuracy is a count of right crops out of a batch.
    assert history[0][1] == pytest.approx(np.log(model.num_classes), abs=0.1)
    for _, _, accuracy in history:
        assert accuracy * CROPS_PER_BATCH == pytest.approx(round(accuracy * CROPS_PER_BATCH))
    # Messages count the object classes, K = 6 shapes; the background is no class of its own.
    assert any("crop classifier of 6 object classes and the background" in line
               for line in logged), logged
    # Pretraining starts from learned filters, so the config's frozen layers stay frozen.
    assert model.frozen == set(model.config.frozen)


def test_to_detector_draws_fresh_heads():
    model = FastRCNN("tiny", ["__background__", "a"], backend="numpy")
    for key in model.params:
        model.params[key] = model.params[key] + 1.0
    trunk = {key: value.copy() for key, value in model.params.items()}
    to_detector(model, np.random.default_rng(0))
    assert model.params["cls_score.w"].std() < 0.05 and not model.params["cls_score.b"].any()
    assert np.abs(model.params["bbox_pred.w"]).max() < 0.01
    for key in ("conv1_1.w", "fc6.w", "fc7.b"):
        np.testing.assert_array_equal(model.params[key], trunk[key])


def test_colour_shuffling_is_on_by_default_for_small_only():
    assert TrainSettings(data="d", out="m.npz", iters=1).shuffle_colours      # small
    assert not TrainSettings(data="d", out="m.npz", iters=1, config="tiny").shuffle_colours
    assert not TrainSettings(data="d", out="m.npz", iters=1, shuffle_colours=False).shuffle_colours


def test_init_copies_every_layer_up_to_fc7_and_draws_new_heads(dataset_root, tmp_path):
    source, _ = quiet(settings(dataset_root, tmp_path / "source.npz", iters=3))
    target = FastRCNN("tiny", ["__background__", "a", "b"], backend="numpy")
    init_from_model(target, str(tmp_path / "source.npz"), np.random.default_rng(0))
    for key in source.params:
        if key.startswith(("cls_score", "bbox_pred")):
            assert target.params[key].shape[0] in (3, 12)        # sized for 2 classes + background
        else:
            np.testing.assert_array_equal(target.params[key], source.params[key], err_msg=key)
    assert not target.params["cls_score.b"].any() and np.abs(target.params["bbox_pred.w"]).max() < 0.01

    # A training run started from it keeps the configuration's frozen layers: they are learned.
    logged = []
    model, state = train(settings(dataset_root, tmp_path / "m.npz", iters=2,
                                  init=str(tmp_path / "source.npz")), progress=False,
                         log=logged.append)
    assert state.iteration == 2 and model.frozen == set(model.config.frozen)
    assert any("new heads for 6 object classes and the background" in line for line in logged)


def test_init_from_another_configuration_is_refused(dataset_root, tmp_path):
    quiet(settings(dataset_root, tmp_path / "source.npz", iters=1))
    small = FastRCNN("small", ["__background__", "a"], backend="numpy")
    with pytest.raises(ModelFileError, match="source.npz.*stages"):
        init_from_model(small, str(tmp_path / "source.npz"), np.random.default_rng(0))


def test_the_builtin_shapes_model_initialises_small():
    from minifrcnn.data.synth import CLASSES as SYNTH_CLASSES
    from minifrcnn.pretrain import BUILTIN_MODELS, init_path

    assert init_path("shapes") == BUILTIN_MODELS["shapes"] and init_path("a.npz") == "a.npz"
    shipped = FastRCNN.load(BUILTIN_MODELS["shapes"], backend="numpy")
    assert shipped.config.name == "small" and shipped.classes == ["__background__", *SYNTH_CLASSES]
    target = FastRCNN("small", ["__background__", "a"], backend="numpy")
    init_from_model(target, "shapes", np.random.default_rng(0))
    np.testing.assert_array_equal(target.params["fc7.w"], shipped.params["fc7.w"])
    np.testing.assert_array_equal(target.params["conv1_1.w"], shipped.params["conv1_1.w"])
    assert target.params["cls_score.w"].shape[0] == 2


def test_init_halves_the_default_learning_rate_only():
    assert TrainSettings(data="d", out="m.npz", iters=1).lr == 0.02                   # small
    assert TrainSettings(data="d", out="m.npz", iters=1, init="shapes").lr == 0.01
    assert TrainSettings(data="d", out="m.npz", iters=1, init="shapes", lr=0.03).lr == 0.03


def test_transpose_and_bg_lo_reach_the_roidb_and_the_sampler(dataset_root, tmp_path, monkeypatch):
    seen = {}
    real = train_module.get_minibatch

    def spy(entries, *args, **kwargs):
        seen.setdefault("bg_lo", kwargs["bg_lo"])
        seen.setdefault("views", set()).update(e.transposed for e in entries)
        return real(entries, *args, **kwargs)

    monkeypatch.setattr(train_module, "get_minibatch", spy)
    _, roidb = train_module.prepare_data(settings(dataset_root, tmp_path / "m.npz"), progress=False,
                                         log=lambda text: None)
    s = settings(dataset_root, tmp_path / "m.npz", transpose=True, bg_lo=0.0, iters=20)
    _, transposed = train_module.prepare_data(s, progress=False, log=lambda text: None)
    assert len(transposed) == 2 * len(roidb)
    quiet(s)
    assert seen == {"bg_lo": 0.0, "views": {False, True}}
    with pytest.raises(ValueError, match="bg_lo"):
        settings(dataset_root, tmp_path / "m.npz", bg_lo=0.5)


def test_init_and_pretrain_together_are_refused(tmp_path):
    with pytest.raises(ValueError, match="init, pretrain and finetune"):
        TrainSettings(data="d", out="m.npz", iters=1, init="x.npz", pretrain=True)


def test_a_dataset_without_objects_is_an_error(tmp_path):
    root = tmp_path / "data"
    write_synthetic_voc(root, 1, 0, seed=0, progress=False)
    for xml in (root / "Annotations").glob("*.xml"):
        text = xml.read_text()
        start, end = text.index("<object>"), text.rindex("</object>") + len("</object>")
        xml.write_text(text[:start] + text[end:])
    shutil.rmtree(root / "proposals_cache", ignore_errors=True)
    with pytest.raises(TrainingError, match="no image"):
        quiet(settings(root, tmp_path / "m.npz"))


@pytest.mark.parametrize("args, message", [
    (["--iters", "5", "--minutes", "1"], "not allowed with argument"),
    (["--iters", "0"], "must be a positive integer"),
    (["--config", "huge"], "invalid choice"),
    (["--init", "x.npz", "--pretrain"], "not allowed with argument"),
    (["--init", "x.npz", "--finetune", "y.npz"], "not allowed with argument"),
    (["--bg-lo", "0.5"], "bg_lo must be in [0, 0.5)"),
    (["--lam", "-1"], "--lam: must be a number of 0 or more"),
    (["--train-from", "conv9_9"], "train_from must be a layer of small: conv1_1, conv2_1"),
])
def test_cli_usage_errors(args, message, tmp_path):
    completed = subprocess.run([sys.executable, "-m", "minifrcnn", "train", str(tmp_path),
                                "--out", str(tmp_path / "m.npz"), *args],
                               capture_output=True, text=True)
    assert completed.returncode == 2
    assert message in completed.stderr and "Traceback" not in completed.stderr


def test_cli_init_from_a_missing_file_is_a_message(dataset_root, tmp_path):
    completed = subprocess.run([sys.executable, "-m", "minifrcnn", "train", str(dataset_root),
                                "--out", str(tmp_path / "m.npz"), "--config", "tiny", "--iters",
                                "1", "--init", str(tmp_path / "missing.npz")],
                               capture_output=True, text=True)
    assert completed.returncode == 1
    assert "missing.npz: no such file" in completed.stderr and "Traceback" not in completed.stderr


def test_cli_broken_dataset_is_a_message(tmp_path):
    completed = subprocess.run([sys.executable, "-m", "minifrcnn", "train", str(tmp_path / "nope"),
                                "--out", str(tmp_path / "m.npz"), "--iters", "1"],
                               capture_output=True, text=True)
    assert completed.returncode == 1
    assert "nope" in completed.stderr and "Traceback" not in completed.stderr


def test_finetune_continues_a_compressed_model_with_its_heads_and_factors(dataset_root, tmp_path,
                                                                          monkeypatch):
    from minifrcnn.svd import compress

    source, _ = quiet(settings(dataset_root, tmp_path / "source.npz", iters=3))
    compressed = compress(FastRCNN.load(tmp_path / "source.npz", backend="numpy"),
                          {"fc6": 3, "fc7": 2})
    compressed.save(tmp_path / "small.npz")
    # Zero steps' worth of learning: the run must start from exactly the saved model, so with a
    # learning rate too small to move a float32 weight it ends where it began.
    logged = []
    model, state = train(settings(dataset_root, tmp_path / "tuned.npz", iters=2, lr=1e-30,
                                  finetune=str(tmp_path / "small.npz")), progress=False,
                         log=logged.append)
    assert state.iteration == 2 and model.config.ranks == {"fc6": 3, "fc7": 2}
    assert model.frozen == set(model.config.frozen)
    assert any("fc6 at rank 3, fc7 at rank 2" in line for line in logged)
    tuned = FastRCNN.load(tmp_path / "tuned.npz", backend="numpy")
    for key, value in compressed.params.items():
        np.testing.assert_allclose(tuned.params[key], value, rtol=1e-5, atol=1e-6, err_msg=key)

    # It trains: with the usual learning rate the factors move.
    model, _ = quiet(settings(dataset_root, tmp_path / "tuned2.npz", iters=2,
                              finetune=str(tmp_path / "small.npz")))
    assert not np.allclose(model.params["fc6_first.w"], compressed.params["fc6_first.w"])
    assert TrainSettings(data="d", out="m.npz", iters=1, finetune="x.npz").lr == 0.01


def test_finetune_refuses_another_configuration_and_init_refuses_a_compressed_model(
        dataset_root, tmp_path):
    from minifrcnn.svd import compress

    quiet(settings(dataset_root, tmp_path / "source.npz", iters=1))
    compress(FastRCNN.load(tmp_path / "source.npz"), {"fc6": 3}).save(tmp_path / "small.npz")
    with pytest.raises(ModelFileError, match="a 'tiny' model.*--config tiny"):
        quiet(settings(dataset_root, tmp_path / "m.npz", config="small",
                       finetune=str(tmp_path / "small.npz")))
    with pytest.raises(ModelFileError, match="compressed model.*fc6 to rank 3.*--finetune"):
        quiet(settings(dataset_root, tmp_path / "m.npz", init=str(tmp_path / "small.npz")))
    with pytest.raises(ValueError, match="at most one of init, pretrain and finetune"):
        TrainSettings(data="d", out="m.npz", iters=1, init="a.npz", finetune="b.npz")


def test_finetune_on_a_dataset_with_other_classes_names_the_file(dataset_root, tmp_path):
    narrow = FastRCNN("tiny", ["__background__", "circle"], backend="numpy")
    narrow.save(tmp_path / "narrow.npz")
    with pytest.raises(ValueError, match=r"\.xml.*class"):
        quiet(settings(dataset_root, tmp_path / "m.npz", finetune=str(tmp_path / "narrow.npz")))


def test_lam_zero_trains_classification_only(dataset_root, tmp_path):
    _, state = quiet(settings(dataset_root, tmp_path / "m.npz", iters=3, lam=0.0))
    assert state.history.loss_box == [0.0, 0.0, 0.0]
    assert state.history.loss == state.history.loss_cls
    _, state = quiet(settings(dataset_root, tmp_path / "m2.npz", iters=3))
    assert all(value > 0 for value in state.history.loss_box)


def test_frozen_below_follows_the_forward_pass_with_the_heads_last():
    from minifrcnn.model import CONFIGS
    from minifrcnn.train import frozen_below, layer_order

    small = CONFIGS["small"]
    assert layer_order(small) == ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "fc6", "fc7",
                                  "cls_score", "bbox_pred"]
    assert frozen_below(small, "conv1_1") == set()
    assert frozen_below(small, "fc6") == {"conv1_1", "conv2_1", "conv3_1", "conv4_1"}
    assert frozen_below(small, "bbox_pred") == set(layer_order(small)[:-1])


def test_train_from_keeps_every_layer_below_as_it_started(dataset_root, tmp_path):
    quiet(settings(dataset_root, tmp_path / "source.npz", iters=3))
    source = FastRCNN.load(tmp_path / "source.npz", backend="numpy")
    # The second stage of stage-wise training: only the box regressor learns.
    logged = []
    train(settings(dataset_root, tmp_path / "boxes.npz", iters=3,
                   finetune=str(tmp_path / "source.npz"), train_from="bbox_pred"),
          progress=False, log=logged.append)
    assert "training from bbox_pred: conv1_1, conv2_1, fc6, fc7, cls_score stay as they " \
        "started" in logged
    tuned = FastRCNN.load(tmp_path / "boxes.npz", backend="numpy")
    changed = [key for key in source.params
               if not np.array_equal(source.params[key], tuned.params[key])]
    assert sorted(changed) == ["bbox_pred.b", "bbox_pred.w"]
    _, meta = read_npz(tmp_path / "boxes.ckpt.npz", expected_format=CHECKPOINT_FORMAT)
    assert meta["frozen"] == ["cls_score", "conv1_1", "conv2_1", "fc6", "fc7"]
    # From fc6: the convs stay; fc6 and up learn.
    quiet(settings(dataset_root, tmp_path / "fc.npz", iters=3, init=str(tmp_path / "source.npz"),
                   train_from="fc6"))
    fc = FastRCNN.load(tmp_path / "fc.npz", backend="numpy")
    for key in ("conv1_1.w", "conv2_1.b"):
        np.testing.assert_array_equal(fc.params[key], source.params[key])
    assert not np.array_equal(fc.params["fc6.w"], source.params["fc6.w"])
    # Every layer: conv1_1, frozen by default from a trained start, learns too.
    quiet(settings(dataset_root, tmp_path / "all.npz", iters=3, init=str(tmp_path / "source.npz"),
                   train_from="conv1_1"))
    _, meta = read_npz(tmp_path / "all.ckpt.npz", expected_format=CHECKPOINT_FORMAT)
    assert meta["frozen"] == []
    assert "train_from" in meta["settings"] and meta["settings"]["lam"] == 1.0
