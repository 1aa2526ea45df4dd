"""The checks must be shown to catch mistakes, not only to pass correct code.

Each planted mistake below is a classic bug, written as a small function whose docstring says
what is wrong. For each, a test shows that the check meant to catch it does (`passed is False`,
or a disagreement with the reference layer), and that the correct layer passes the same check on
the same input, so the check is not simply failing everything. Where the gradient-check suite
behind `minifrcnn gradcheck` can see the mistake, a test also swaps it into the suite.

1. max-pool backward that overwrites instead of adding across overlapping windows
2. RoI pooling that projects with np.round (halves to even) instead of C's round (halves away)
3. smooth L1 with sigma where sigma^2 belongs (forward and backward, or the backward alone)
4. conv backward that forms dx with a transposed or flipped kernel
"""

import math

import numpy as np
import pytest

import minifrcnn.gradcheck
import minifrcnn.layers
from minifrcnn.gradcheck import gradcheck, gradcheck_loss, run_suite, tie_free
from minifrcnn.layers import (
    conv2d_backward,
    conv2d_forward,
    maxpool2d_backward,
    maxpool2d_forward,
    roi_pool_forward,
    smooth_l1_loss,
)

# ---------------------------------------------------------------------------------------------
# 1. Max pooling: overwriting instead of adding
# ---------------------------------------------------------------------------------------------


def maxpool_forward_loops(x, size, stride):
    """Max pooling in plain loops (correct). The cache maps each window (n, c, i, j) to the cell
    (n, c, row, col) that won it, for the two loop backward passes below."""
    n_count, c_count, height, width = x.shape
    out = np.zeros((n_count, c_count, 1 + (height - size) // stride, 1 + (width - size) // stride))
    winners = {}
    for n, c, i, j in np.ndindex(out.shape):
        window = x[n, c, i * stride:i * stride + size, j * stride:j * stride + size]
        a, b = np.unravel_index(window.argmax(), window.shape)
        out[n, c, i, j] = window[a, b]
        winners[n, c, i, j] = (n, c, i * stride + a, j * stride + b)
    return out, (x.shape, winners)


def maxpool_backward_overwrites(dout, cache):
    """MISTAKE: `dx[cell] = dout` where it must be `dx[cell] += dout`.

    With overlapping windows (3x3, stride 2) one cell can win several windows; it should receive
    the sum of their gradients but keeps only the last one. Non-overlapping windows never share a
    cell, so the bug is invisible there (cs231n's max-pool check had exactly this blind spot).
    """
    x_shape, winners = cache
    dx = np.zeros(x_shape)
    for window, cell in winners.items():
        dx[cell] = dout[window]                  # should be +=
    return dx


def maxpool_backward_adds(dout, cache):
    """The same loop with `+=`: correct. The one character is the whole difference."""
    x_shape, winners = cache
    dx = np.zeros(x_shape)
    for window, cell in winners.items():
        dx[cell] += dout[window]
    return dx


def cells_winning_several_windows(x, size, stride):
    """How many cells of x are the maximum of more than one pooling window."""
    _, (_, winners) = maxpool_forward_loops(x, size, stride)
    cells = list(winners.values())
    return sum(cells.count(cell) > 1 for cell in set(cells))


def test_loop_forward_is_max_pooling():
    """The loop forward used by the planted pair computes what the reference forward does."""
    x = tie_free((2, 2, 7, 7), np.random.default_rng(0))
    for size, stride in [(3, 2), (2, 2)]:
        np.testing.assert_array_equal(maxpool_forward_loops(x, size, stride)[0],
                                      maxpool2d_forward(x, size, stride)[0])


def test_overwriting_maxpool_backward_fails_on_overlapping_windows():
    """3x3 windows with stride 2 on tie-free input: the overwriting backward fails gradcheck;
    the `+=` loop and the reference layer pass on the very same input."""
    x = tie_free((2, 2, 7, 7), np.random.default_rng(0))
    assert cells_winning_several_windows(x, 3, 2) > 0     # the input can expose the bug

    def loops(x):
        return maxpool_forward_loops(x, 3, 2)

    assert gradcheck(loops, maxpool_backward_overwrites, {"x": x}).passed is False
    assert gradcheck(loops, maxpool_backward_adds, {"x": x}).passed is True
    assert gradcheck(lambda x: maxpool2d_forward(x, 3, 2), maxpool2d_backward, {"x": x}).passed is True


def test_overwriting_maxpool_backward_hides_on_non_overlapping_windows():
    """Why the suite must use overlapping windows: with 2x2 / stride 2 the same bug passes."""
    x = tie_free((2, 2, 8, 8), np.random.default_rng(0))
    assert cells_winning_several_windows(x, 2, 2) == 0
    result = gradcheck(lambda x: maxpool_forward_loops(x, 2, 2), maxpool_backward_overwrites, {"x": x})
    assert result.passed is True


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_suite_flags_overwriting_maxpool_backward(monkeypatch, seed):
    """Swapped into the suite, the mistake fails the overlapping case (and only that one)."""
    monkeypatch.setattr(minifrcnn.layers, "maxpool2d_forward", maxpool_forward_loops)
    monkeypatch.setattr(minifrcnn.layers, "maxpool2d_backward", maxpool_backward_overwrites)
    verdicts = {case.shapes: result.passed for case, result in run_suite(seed, layers=["maxpool2d"])}
    assert [passed for shapes, passed in verdicts.items() if "overlapping" in shapes] == [False]
    assert [passed for shapes, passed in verdicts.items() if "overlapping" not in shapes] == [True]


# ---------------------------------------------------------------------------------------------
# 2. RoI pooling: rounding halves to even
# ---------------------------------------------------------------------------------------------


def roi_pool_loops(features, rois, output_size, spatial_scale, project):
    """RoI max pooling in plain loops (float64), with the projection's rounding passed in.

    Follows fast-rcnn-spec.md: project each corner, size at least one cell, fractional bins
    [floor(k bin), ceil((k + 1) bin)) offset by the start and clipped, max per bin, 0 if empty.
    """
    _, channels, height, width = features.shape
    ph_count, pw_count = output_size
    out = np.zeros((len(rois), channels, ph_count, pw_count))
    for r, (b, x1, y1, x2, y2) in enumerate(rois):
        xs, ys, xe, ye = (int(project(v * spatial_scale)) for v in (x1, y1, x2, y2))
        bin_h = max(ye - ys + 1, 1) / ph_count
        bin_w = max(xe - xs + 1, 1) / pw_count
        for ph in range(ph_count):
            h0 = min(max(ys + math.floor(ph * bin_h), 0), height)
            h1 = min(max(ys + math.ceil((ph + 1) * bin_h), 0), height)
            for pw in range(pw_count):
                w0 = min(max(xs + math.floor(pw * bin_w), 0), width)
                w1 = min(max(xs + math.ceil((pw + 1) * bin_w), 0), width)
                if h1 > h0 and w1 > w0:
                    out[r, :, ph, pw] = features[int(b), :, h0:h1, w0:w1].max(axis=(1, 2))
    return out


def round_half_away_from_zero(v):
    """C's round(): 2.5 -> 3, -2.5 -> -3."""
    return math.copysign(math.floor(abs(v) + 0.5), v)


def roi_pool_round_half_even(features, rois, output_size, spatial_scale):
    """MISTAKE: projects RoI corners with np.round, which rounds halves to even (2.5 -> 2).

    Caffe and torchvision use C's round, halves away from zero (2.5 -> 3). The two differ only
    when a corner lands exactly on .5 after scaling, e.g. x1 = 5 at spatial_scale 1/2, and there
    the RoI shifts by a cell. The backward pass follows the forward's argmax, so a gradient check
    cannot see this: only a comparison of outputs with the reference can.
    """
    return roi_pool_loops(features, rois, output_size, spatial_scale, project=np.round)


def roi_pool_round_half_away(features, rois, output_size, spatial_scale):
    """The same loops with the correct rounding: shows the comparison below is fair."""
    return roi_pool_loops(features, rois, output_size, spatial_scale,
                          project=round_half_away_from_zero)


def reference_roi_pool(features, rois, output_size, spatial_scale):
    """The library's reference RoI pooling, output only."""
    return roi_pool_forward(features, rois, output_size, spatial_scale)[0]


def agrees_with_reference(impl, cases, reference=reference_roi_pool):
    """True when impl(**case) matches reference(**case) on every case (to 1e-12 relative).

    Outputs may be single arrays or tuples of them (a loss and its gradient); each element is
    compared. Reusable for any layer: pass the reference to compare against.
    """
    def as_tuple(value):
        return value if isinstance(value, tuple) else (value,)

    for case in cases:
        got, expected = as_tuple(impl(**case)), as_tuple(reference(**case))
        if len(got) != len(expected):
            return False
        if not all(np.allclose(g, e, rtol=1e-12, atol=0) for g, e in zip(got, expected)):
            return False
    return True


def roi_cases(spatial_scale, rois):
    """Tie-free features (2, 3, 9, 9) pooled over `rois` to 2x2 and 3x3 grids."""
    features = tie_free((2, 3, 9, 9), np.random.default_rng(1))
    rois = np.asarray(rois, dtype=np.float64)
    return [{"features": features, "rois": rois, "output_size": size, "spatial_scale": spatial_scale}
            for size in [(2, 2), (3, 3)]]


# Corners on .5 after halving: 5 -> 2.5, 3 -> 1.5, 11 -> 5.5, 9 -> 4.5, -5 -> -2.5, 13 -> 6.5.
HALF_CASES = roi_cases(0.5, [[0, 5, 3, 11, 9], [1, -5, 1, 13, 17], [0, 1, 5, 7, 13]])
# The same kind of RoIs at scale 1: every corner is a whole number, rounding never matters.
WHOLE_CASES = roi_cases(1.0, [[0, 2, 1, 6, 5], [1, -3, 1, 8, 8], [0, 0, 0, 8, 8]])


def test_reference_and_correct_loops_agree_with_reference():
    """The helper accepts the reference itself and a correct independent implementation."""
    assert agrees_with_reference(reference_roi_pool, HALF_CASES + WHOLE_CASES)
    assert agrees_with_reference(roi_pool_round_half_away, HALF_CASES + WHOLE_CASES)


def test_round_half_even_roi_pool_is_flagged_on_half_coordinates():
    """On RoIs whose corners land on .5 the np.round version gives different outputs."""
    assert np.round(2.5) == 2 and round_half_away_from_zero(2.5) == 3
    assert not agrees_with_reference(roi_pool_round_half_even, HALF_CASES)
    for case in HALF_CASES:
        assert not np.array_equal(roi_pool_round_half_even(**case), reference_roi_pool(**case))


def test_round_half_even_roi_pool_hides_on_whole_coordinates():
    """Why the cases must include .5 corners: on whole-number corners the mistake agrees."""
    assert agrees_with_reference(roi_pool_round_half_even, WHOLE_CASES)


# ---------------------------------------------------------------------------------------------
# 3. Smooth L1: sigma where sigma^2 belongs
# ---------------------------------------------------------------------------------------------


def _ones_if_none(weights, like):
    return np.ones_like(like) if weights is None else weights


def smooth_l1_sigma_not_squared(pred, target, inside_weights=None, outside_weights=None,
                                sigma=1.0):
    """MISTAKE (forward and backward): sigma in place of sigma^2 throughout.

    Zone |d| < 1/sigma, value 0.5 sigma d^2 or |d| - 0.5/sigma, slope sigma d. This is itself a
    smooth function with a matching gradient, so gradcheck passes it; only a comparison with the
    reference values exposes it, and only for sigma != 1 (where sigma = sigma^2 it is right).
    """
    inside = _ones_if_none(inside_weights, pred)
    outside = _ones_if_none(outside_weights, pred)
    rows = pred.shape[0]
    d = inside * (pred - target)
    quadratic = np.abs(d) < 1 / sigma                                   # should be 1 / sigma**2
    value = np.where(quadratic, 0.5 * sigma * d * d, np.abs(d) - 0.5 / sigma)
    slope = np.where(quadratic, sigma * d, np.sign(d))
    return (outside * value).sum() / rows, outside * inside * slope / rows


def smooth_l1_backward_sigma_not_squared(pred, target, inside_weights=None, outside_weights=None,
                                         sigma=1.0):
    """MISTAKE (backward only): the loss is the reference's, but the quadratic zone's slope is
    sigma d instead of sigma^2 d, so the gradient disagrees with the loss it claims to
    differentiate. gradcheck catches this one (for sigma != 1)."""
    loss, _ = smooth_l1_loss(pred, target, inside_weights, outside_weights, sigma=sigma)
    inside = _ones_if_none(inside_weights, pred)
    outside = _ones_if_none(outside_weights, pred)
    d = inside * (pred - target)
    quadratic = np.abs(d) < 1 / sigma**2
    slope = np.where(quadratic, sigma * d, np.sign(d))                  # should be sigma**2 * d
    return loss, outside * inside * slope / pred.shape[0]


def smooth_l1_cases(sigma):
    """Errors d spread over both zones of both the right and the wrong formula, none within 1e-3
    of a kink (1/sigma^2, or 1/sigma for the mistake), with inside and outside weights."""
    rng = np.random.default_rng(2)
    d = np.array([[0.01, -0.03, 0.05, 0.08], [-0.2, 0.3, 0.45, -0.6], [0.9, -1.5, 2.5, -5.0]])
    return [{"pred": d + 0.25, "target": np.full_like(d, 0.25),
             "inside_weights": np.ones_like(d), "outside_weights": rng.uniform(0.5, 2, d.shape),
             "sigma": sigma}]


def test_sigma_not_squared_is_flagged_by_reference_values():
    """sigma = 3 (and 0.5): the self-consistent mistake gives different values from the reference;
    at sigma = 1 it agrees, so checks with sigma = 1 only would never find it."""
    assert not agrees_with_reference(smooth_l1_sigma_not_squared, smooth_l1_cases(3.0),
                                     reference=smooth_l1_loss)
    assert not agrees_with_reference(smooth_l1_sigma_not_squared, smooth_l1_cases(0.5),
                                     reference=smooth_l1_loss)
    assert agrees_with_reference(smooth_l1_sigma_not_squared, smooth_l1_cases(1.0),
                                 reference=smooth_l1_loss)
    assert agrees_with_reference(smooth_l1_loss, smooth_l1_cases(3.0), reference=smooth_l1_loss)


def test_sigma_not_squared_by_hand():
    """sigma = 3, d = 0.05: the reference gives 0.5 * 9 * 0.05^2 = 0.01125, the mistake 0.00375."""
    pred, target = np.array([[0.05]]), np.zeros((1, 1))
    assert smooth_l1_loss(pred, target, sigma=3.0)[0] == pytest.approx(0.01125, rel=1e-12)
    assert smooth_l1_sigma_not_squared(pred, target, sigma=3.0)[0] == pytest.approx(0.00375, rel=1e-12)


def test_gradcheck_cannot_see_a_self_consistent_mistake():
    """Why values are compared too: the forward-and-backward mistake passes gradcheck."""
    (case,) = smooth_l1_cases(3.0)
    pred = case.pop("pred")
    result = gradcheck_loss(lambda pred: smooth_l1_sigma_not_squared(pred, **case),
                            {"pred": pred}, ["pred"])
    assert result.passed is True


@pytest.mark.parametrize("sigma", [3.0, 0.5])
def test_backward_only_sigma_mistake_is_flagged_by_gradcheck(sigma):
    """gradcheck_loss fails the backward-only mistake and passes the reference on the same input."""
    (case,) = smooth_l1_cases(sigma)
    pred = case.pop("pred")
    wrong = gradcheck_loss(lambda pred: smooth_l1_backward_sigma_not_squared(pred, **case),
                           {"pred": pred}, ["pred"])
    right = gradcheck_loss(lambda pred: smooth_l1_loss(pred, **case), {"pred": pred}, ["pred"])
    assert wrong.passed is False
    assert right.passed is True


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_suite_flags_backward_only_sigma_mistake(monkeypatch, seed):
    """Swapped into the suite (which checks smooth L1 at sigma 3), the mistake fails its row."""
    monkeypatch.setattr(minifrcnn.layers, "smooth_l1_loss", smooth_l1_backward_sigma_not_squared)
    results = run_suite(seed, layers=["smooth_l1_loss"])
    assert [result.passed for _, result in results] == [False]


# ---------------------------------------------------------------------------------------------
# 4. Convolution: dx formed with a transposed or flipped kernel
# ---------------------------------------------------------------------------------------------


def conv_forward_keeping_inputs(x, w, b, stride=1, pad=0):
    """The reference convolution, with a cache of its own (the inputs) for the planted backward
    passes below, so they depend only on the layers' public functions."""
    out, _ = conv2d_forward(x, w, b, stride=stride, pad=pad)
    return out, (x, w, b, stride, pad)


def conv_backward_with_kernel_for_dx(dout, x, w, b, stride, pad, kernel_for_dx):
    """dw and db from the reference; dx from the reference run with `kernel_for_dx` instead of w."""
    _, cache = conv2d_forward(x, w, b, stride=stride, pad=pad)
    _, dw, db = conv2d_backward(dout, cache)
    _, wrong_cache = conv2d_forward(x, kernel_for_dx, b, stride=stride, pad=pad)
    dx, _, _ = conv2d_backward(dout, wrong_cache)
    return dx, dw, db


def conv_backward_transposed_kernel(dout, cache):
    """MISTAKE: forms dx with every kernel transposed (w[f, c, b, a] in place of w[f, c, a, b]).

    dw and db are right; dx is right only for symmetric kernels, which is why the check needs a
    non-symmetric one. Square kernels only (the transpose must keep the shape).
    """
    x, w, b, stride, pad = cache
    return conv_backward_with_kernel_for_dx(dout, x, w, b, stride, pad, w.transpose(0, 1, 3, 2))


def conv_backward_flipped_kernel(dout, cache):
    """MISTAKE: forms dx with every kernel flipped in both directions (w[f, c, ::-1, ::-1]),
    mixing up convolution and cross-correlation. dw and db are right."""
    x, w, b, stride, pad = cache
    return conv_backward_with_kernel_for_dx(dout, x, w, b, stride, pad, w[:, :, ::-1, ::-1])


def conv_backward_right_kernel(dout, cache):
    """The same wiring with w itself: correct, so the planted pair differs only in the kernel."""
    x, w, b, stride, pad = cache
    return conv_backward_with_kernel_for_dx(dout, x, w, b, stride, pad, w)


def conv_inputs(kernel_shape, seed=3):
    rng = np.random.default_rng(seed)
    return {"x": rng.standard_normal((2, 2, 6, 5)), "w": rng.standard_normal(kernel_shape),
            "b": rng.standard_normal(kernel_shape[0])}


def stride1_pad1(forward):
    """forward with stride 1 and padding 1 bound, as gradcheck wants it: f(x, w, b)."""
    return lambda x, w, b: forward(x, w, b, stride=1, pad=1)


@pytest.mark.parametrize("mistake", [conv_backward_transposed_kernel, conv_backward_flipped_kernel])
def test_wrong_kernel_in_conv_backward_is_flagged(mistake):
    """On a non-symmetric 3x3 kernel dx fails gradcheck (dw and db still pass, and the result
    says which input is wrong); the correctly wired backward and the reference layer pass on the
    same input."""
    inputs = conv_inputs((3, 2, 3, 3))
    wrong = gradcheck(stride1_pad1(conv_forward_keeping_inputs), mistake, inputs)
    assert wrong.passed is False
    assert [c.name for c in wrong.inputs] == ["x", "w", "b"]
    assert [c.rel_error < wrong.tol for c in wrong.inputs] == [False, True, True]
    assert gradcheck(stride1_pad1(conv_forward_keeping_inputs), conv_backward_right_kernel,
                     inputs).passed is True
    assert gradcheck(stride1_pad1(conv2d_forward), conv2d_backward, inputs).passed is True


def test_flipped_kernel_is_flagged_on_a_non_square_kernel():
    """The flip needs no square kernel: 3x2 kernels, stride 2, pad 2 (as in the suite)."""
    inputs = conv_inputs((3, 2, 3, 2))

    def forward(x, w, b):
        return conv_forward_keeping_inputs(x, w, b, stride=2, pad=2)

    assert gradcheck(forward, conv_backward_flipped_kernel, inputs).passed is False
    assert gradcheck(forward, conv_backward_right_kernel, inputs).passed is True


def test_transposed_kernel_hides_on_symmetric_kernels():
    """Why the check needs a non-symmetric kernel: with w equal to its transpose the mistake
    computes the right dx and passes."""
    inputs = conv_inputs((3, 2, 3, 3))
    w = inputs["w"]
    inputs["w"] = w + w.transpose(0, 1, 3, 2)
    result = gradcheck(stride1_pad1(conv_forward_keeping_inputs), conv_backward_transposed_kernel,
                       inputs)
    assert result.passed is True


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_suite_flags_flipped_kernel(monkeypatch, seed):
    """Swapped into the suite, the flipped-kernel backward fails both conv2d cases."""
    monkeypatch.setattr(minifrcnn.layers, "conv2d_forward", conv_forward_keeping_inputs)
    monkeypatch.setattr(minifrcnn.layers, "conv2d_backward", conv_backward_flipped_kernel)
    results = run_suite(seed, layers=["conv2d"])
    assert [result.passed for _, result in results] == [False, False]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_suite_passes_the_correctly_wired_conv_pair(monkeypatch, seed):
    """The same swap with the right kernel passes: the suite's failure above is the kernel's."""
    monkeypatch.setattr(minifrcnn.layers, "conv2d_forward", conv_forward_keeping_inputs)
    monkeypatch.setattr(minifrcnn.layers, "conv2d_backward", conv_backward_right_kernel)
    results = run_suite(seed, layers=["conv2d"])
    assert [result.passed for _, result in results] == [True, True]
