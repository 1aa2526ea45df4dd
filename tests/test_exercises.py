"""minifrcnn.exercises: the contract (EXERCISES, check, Result), what a student's broken function
gets back, the seed, shrinking, and the pieces of `minifrcnn check` (notebook reading, the
import flag, the wire format)."""

import json
from pathlib import Path

import numpy as np
import pytest

from minifrcnn import boxes, layers
from minifrcnn.exercises import DEFAULT_SEED, EXERCISES, check, engine
from minifrcnn.exercises.calls import Opaque, Outcome
from minifrcnn.exercises.grading import library_uses, notebook_code
from minifrcnn.exercises.wire import WireError, pack, unpack
from minifrcnn.gradcheck import numerical_gradient

ROOT = Path(__file__).resolve().parents[1]
NAMES = ["numerical_gradient", "relu", "linear", "conv2d", "maxpool2d", "roi_pool",
         "softmax_cross_entropy", "smooth_l1_loss", "iou", "encode_decode", "sample_rois", "nms",
         "voc_ap", "truncated_svd"]


def test_exercises_in_teaching_order_with_lessons_and_notebooks():
    assert [e.name for e in EXERCISES] == NAMES
    lessons = {p.stem for p in (ROOT / "lessons").glob("*.ipynb")}
    for e in EXERCISES:
        assert e.lesson in lessons, e
        assert (ROOT / "lessons" / "exercises" / e.notebook).exists(), e
        assert all("(" in signature and ")" in signature for signature in e.functions)
    conv = EXERCISES[NAMES.index("conv2d")]
    assert conv.function_names == ("conv2d_forward", "conv2d_backward")
    assert conv.functions[0].startswith("conv2d_forward(x, w, b, stride, pad)")


LIBRARY = {
    "numerical_gradient": ("minifrcnn.gradcheck", "numerical_gradient"),
    "relu": ("minifrcnn.layers", "relu_forward", "relu_backward"),
    "linear": ("minifrcnn.layers", "linear_forward", "linear_backward"),
    "conv2d": ("minifrcnn.layers", "conv2d_forward", "conv2d_backward"),
    "maxpool2d": ("minifrcnn.layers", "maxpool2d_forward", "maxpool2d_backward"),
    "roi_pool": ("minifrcnn.layers", "roi_pool_forward", "roi_pool_backward"),
    "softmax_cross_entropy": ("minifrcnn.layers", "softmax_cross_entropy"),
    "smooth_l1_loss": ("minifrcnn.layers", "smooth_l1_loss"),
    "iou": ("minifrcnn.boxes", "iou"),
    "encode_decode": ("minifrcnn.boxes", "encode", "decode"),
    "sample_rois": ("minifrcnn.data.minibatch", "sample_rois"),
    "nms": ("minifrcnn.boxes", "nms"),
    "voc_ap": ("minifrcnn.evaluate", "voc_ap"),
    "truncated_svd": ("minifrcnn.svd", "truncated_svd"),
}


@pytest.mark.parametrize("name", NAMES)
def test_the_library_passes_every_check(name):
    import importlib
    module, *functions = LIBRARY[name]
    module = importlib.import_module(module)
    result = check(name, *(getattr(module, f) for f in functions))
    assert result.passed, result.feedback
    assert result.cases >= 150 and result.edge_cases >= 3


def test_check_refuses_unknown_names_and_wrong_function_counts():
    with pytest.raises(ValueError, match="no exercise called 'conv'.*conv2d"):
        check("conv", layers.conv2d_forward)
    with pytest.raises(TypeError, match="takes 2 function"):
        check("conv2d", layers.conv2d_forward)
    with pytest.raises(TypeError, match="conv2d_backward must be a function"):
        check("conv2d", layers.conv2d_forward, 3)


def test_a_pass_says_exactly_what_was_tried():
    result = check("relu", layers.relu_forward, layers.relu_backward)
    assert result.passed and result.failure is None and result.seed == DEFAULT_SEED
    assert result.cases == result.edge_cases + result.generated >= 200
    assert f"passed {result.cases} cases" in result.feedback
    assert f"seed {DEFAULT_SEED}" in result.feedback
    assert "all tests passed" not in result.feedback.lower()
    assert "feedback, not the grade" in result.feedback
    html = result._repr_html_()
    assert "relu: passed" in html and "&lt;" not in html.split("<pre")[0]


def test_the_same_seed_gives_the_same_verdict_and_case():
    def wrong_backward(dout, cache):
        return dout * (cache >= 0)
    first = check("relu", layers.relu_forward, wrong_backward)
    again = check("relu", layers.relu_forward, wrong_backward, seed=None)
    assert not first.passed and first.feedback == again.feedback
    other = check("relu", layers.relu_forward, layers.relu_backward, seed=7)
    assert other.passed and other.seed == 7 and "seed 7" in other.feedback


def broken(kind):
    """relu_forward broken in one way a student's can be."""
    def relu_forward(x):
        if kind == "raises":
            return x[10 ** 6], x
        if kind == "none":
            return None
        if kind == "shape":
            return np.maximum(x, 0).ravel(), x
        if kind == "dtype":
            return np.maximum(x, 0).astype(np.float64), x
        if kind == "in place":
            np.maximum(x, 0, out=x)
            return x.copy(), x
        if kind == "exit":
            raise SystemExit(3)
        if kind == "loop":
            while True:
                pass
        if kind == "not implemented":
            raise NotImplementedError
    return relu_forward


@pytest.mark.parametrize("kind,prop,words", [
    ("raises", "runs", "relu_forward raised IndexError"),
    ("none", "returns", "relu_forward returned None, expected (out, cache)"),
    ("shape", "out", "out has shape"),
    ("dtype", "out", "dtype float64, expected float32"),
    ("in place", "input unchanged", "changed its argument x in place"),
    ("exit", "runs", "called sys.exit(3)"),
    ("loop", "time limit", "did not return within 0.5 s"),
    ("not implemented", "runs", "NotImplementedError"),
])
def test_a_broken_function_is_a_failed_check_not_a_crash(monkeypatch, kind, prop, words):
    monkeypatch.setattr(engine, "TIME_LIMIT", 0.5)
    result = check("relu", broken(kind), layers.relu_backward)
    assert not result.passed
    assert result.failed_property == prop
    assert words in result.failure.message
    if kind == "raises":
        assert "line" in result.failure.message and "x[10 ** 6]" in result.failure.message
    if kind == "not implemented":
        assert "skeleton" in result.failure.hint


def test_the_failing_case_is_shrunk():
    """A bug that only shows when M == 4 (no edge case has it): hypothesis finds it and shrinks
    everything else to the smallest input."""
    def linear_forward(x, w, b):
        out, cache = layers.linear_forward(x, w, b)
        return (out + 1 if w.shape[0] == 4 else out), cache
    result = check("linear", linear_forward, layers.linear_backward)
    assert not result.passed and result.failed_property == "out"
    assert result.case.label == "" and result.case.inputs["w"].shape[0] == 4
    assert result.case.inputs["x"].shape == (1, 1)
    assert result.shrink_steps > 0 and "shrunk in" in result.feedback


def test_the_feedback_shows_the_case_expected_actual_and_a_hint():
    def maxpool2d_backward(dout, cache):        # `=` instead of `+=`
        x_shape, dtype, arg, size, stride = cache
        dx = np.zeros(x_shape, dtype)
        for i in range(arg.shape[2]):
            for j in range(arg.shape[3]):
                a, b = np.unravel_index(arg[:, :, i, j], (size, size))
                for n in range(x_shape[0]):
                    for c in range(x_shape[1]):
                        dx[n, c, i * stride + a[n, c], j * stride + b[n, c]] = dout[n, c, i, j]
        return dx
    result = check("maxpool2d", layers.maxpool2d_forward, maxpool2d_backward)
    assert result.failed_property == "dx" and "overlapping" in result.case.label
    feedback = result.feedback
    for part in ("Property: dx", "The case (edge case: overlapping", "  x = float64 (1, 1, 5, 7)",
                 "Expected (the reference backward):", "Yours:", "Hint:", "SUM"):
        assert part in feedback, part


def test_numerical_gradient_is_public_and_central():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3))
    saved = x.copy()
    grad = numerical_gradient(lambda v: float(np.sum(np.sin(v) * v ** 2)), x, 1e-5)
    assert np.array_equal(x, saved)
    assert np.allclose(grad, np.cos(x) * x ** 2 + 2 * x * np.sin(x), atol=1e-8)


def test_decode_handles_no_rois():
    assert boxes.decode(np.zeros((0, 4)), np.zeros((0, 8))).shape == (0, 8)


def test_a_notebook_gives_its_definitions_only():
    cells = [
        {"cell_type": "markdown", "source": "# Exercise"},
        {"cell_type": "code", "source": ["%matplotlib inline\n", "import numpy as np\n",
                                         "EPS = 1e-12\n", "W = np.zeros(3)\n"]},
        {"cell_type": "code", "source": "def relu_forward(x):\n    return np.maximum(x, 0), x\n"
                                        "\nrelu_forward(np.ones(2))\n"},
        {"cell_type": "code", "source": "from minifrcnn.exercises import check\n"
                                        "check('relu', relu_forward, relu_backward)"},
        {"cell_type": "code", "source": "def broken(:\n"},
    ]
    code, notes = notebook_code(json.dumps({"cells": cells}))
    assert "import numpy as np" in code and "EPS = 1e-12" in code and "def relu_forward" in code
    assert "W = np.zeros" not in code and "relu_forward(np.ones" not in code
    assert "check('relu'" not in code and "matplotlib" not in code
    assert notes == ["cell 5 has a syntax error (line 1): invalid syntax"]


@pytest.mark.parametrize("source,flagged", [
    ("from minifrcnn.layers import conv2d_forward as mine", {"conv2d"}),
    ("import minifrcnn.boxes as B\ndef iou(a, b):\n    return B.iou(a, b)", {"iou"}),
    ("import minifrcnn\ndef nms(b, s, t):\n    return minifrcnn.boxes.nms(b, s, t)", {"nms"}),
    ("from minifrcnn import svd\nf = svd.truncated_svd", {"truncated_svd"}),
    ("from minifrcnn.boxes import encode", {"encode_decode"}),
    ("from minifrcnn.exercises import check", set()),
    ("import numpy as np\nfrom minifrcnn.layers import dropout_forward", set()),
    ("import importlib\nm = importlib.import_module('minifrcnn.layers')", set(NAMES)),
])
def test_library_uses_flags_only_the_functions_to_write(source, flagged):
    assert set(library_uses(source)) == flagged


def test_the_wire_carries_arrays_and_nothing_executable():
    value = (np.arange(6, dtype=np.float32).reshape(2, 3), np.float32(2.5), None, "text",
             Opaque("dict"), (1, 2.5, True))
    back = unpack(pack(value))
    assert back[0].dtype == np.float32 and np.array_equal(back[0], value[0])
    assert back[1].dtype == np.float32 and back[1] == 2.5
    assert back[2:] == value[2:]
    outcome = unpack(pack(Outcome("f", (np.ones(2), Opaque("tuple")), ("x",), None, "")))
    assert outcome.changed == ("x",) and np.array_equal(outcome.value[0], np.ones(2))
    assert unpack(pack(np.array([object()], dtype=object))) == Opaque("object array")
    with pytest.raises(WireError):
        unpack(b"\x05\x00\x00\x00\x00\x00\x00\x00{bad}")


def test_check_command_usage_errors(tmp_path, capsys):
    from minifrcnn.cli import main
    assert main(["check", str(tmp_path / "missing.py")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["check", str(tmp_path), "--exercise", "conv"]) == 2
    assert "unknown exercise conv" in capsys.readouterr().err
    assert main(["check", str(tmp_path)]) == 2
    assert "no .py or .ipynb files" in capsys.readouterr().err
