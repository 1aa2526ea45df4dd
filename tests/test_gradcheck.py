"""The gradient checker itself: every layer test leans on it, so it is tested on its own.

It must pass a correct backward with a tiny error, measure the error exactly as DESIGN.md
defines it, point at the wrong element, sample large inputs, produce tie-free inputs, read well
when printed, and refuse a backward pass that returns the wrong number or shape of gradients.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minifrcnn.gradcheck import (
    DEFAULT_TOL,
    GradcheckResult,
    gradcheck,
    gradcheck_loss,
    run_suite,
    suite_cases,
    tie_free,
)
from minifrcnn.layers import linear_backward, linear_forward


def scale_forward(x):
    """y = 3 x + 1, elementwise: dL/dx = 3 dout exactly."""
    return 3 * x + 1, None


def scale_backward(dout, cache):
    return 3 * dout


def planted_backward(index, offset):
    """A backward for scale_forward that is right everywhere except at `index`, where it claims
    3 dout + offset. The returned list records the dout that gradcheck drew."""
    seen = []

    def backward(dout, cache):
        seen.append(dout)
        dx = 3 * dout
        dx[index] += offset
        return dx

    return backward, seen


def test_correct_pair_passes_with_a_tiny_error():
    """A correct layer (linear) passes, with a relative error far below the tolerance."""
    rng = np.random.default_rng(0)
    result = gradcheck(linear_forward, linear_backward,
                       {"x": rng.standard_normal((3, 5)), "w": rng.standard_normal((4, 5)),
                        "b": rng.standard_normal(4)}, rng=rng)
    assert result.passed
    assert [check.name for check in result.inputs] == ["x", "w", "b"]
    assert result.max_rel_error < 1e-8
    assert result.tol == DEFAULT_TOL


def test_relative_error_follows_the_design_formula():
    """rel_error = max|numeric - analytic| / max(max|numeric|, max|analytic|, 1e-12).

    The backward is planted to be off by exactly 0.5 at one element; the numeric gradient is
    3 dout (the function is linear, so central differences are exact up to rounding). The test
    computes the expected number from the formula and the dout gradcheck drew.
    """
    index, offset = (1, 2), 0.5
    backward, seen = planted_backward(index, offset)
    x = np.random.default_rng(1).standard_normal((3, 4))
    result = gradcheck(scale_forward, backward, {"x": x})
    (check,) = result.inputs
    numeric = 3 * seen[0]
    analytic = numeric.copy()
    analytic[index] += offset
    expected = offset / max(np.abs(numeric).max(), np.abs(analytic).max(), 1e-12)
    assert check.rel_error == pytest.approx(expected, rel=1e-6)
    assert check.worst_index == index
    assert check.numeric == pytest.approx(numeric[index], rel=1e-6)
    assert check.analytic == pytest.approx(analytic[index], rel=1e-12)
    assert result.max_rel_error == check.rel_error
    assert result.passed is False


def test_the_floor_keeps_vanishing_gradients_from_dividing_by_zero():
    """A layer whose true gradient is 0 everywhere: the denominator is the 1e-12 floor, so an
    analytic 1e-13 gives 0.1 (a fail at the default tolerance) and an exact 0 gives 0 (a pass)."""
    def zero_forward(x):
        return 0 * x, None

    x = np.random.default_rng(2).standard_normal((2, 2))
    tiny = gradcheck(zero_forward, lambda dout, cache: np.full((2, 2), 1e-13), {"x": x})
    exact = gradcheck(zero_forward, lambda dout, cache: np.zeros((2, 2)), {"x": x})
    assert tiny.max_rel_error == pytest.approx(0.1, rel=1e-9)
    assert tiny.passed is False
    assert exact.max_rel_error == 0.0
    assert exact.passed is True


@given(st.integers(0, 5), st.integers(0, 6), st.floats(1e-3, 10.0))
def test_worst_index_points_at_the_planted_element(row, col, offset):
    """Whichever element is wrong, and by however much, worst_index names it."""
    backward, _ = planted_backward((row, col), offset)
    x = np.random.default_rng(3).standard_normal((6, 7))
    (check,) = gradcheck(scale_forward, backward, {"x": x}).inputs
    assert check.worst_index == (row, col)


def test_passed_is_a_strict_comparison_with_tol():
    """passed means max_rel_error < tol; the same result re-judged under another tol flips."""
    backward, _ = planted_backward((0, 0), 1e-3)
    result = gradcheck(scale_forward, backward, {"x": np.ones((2, 2))})
    error = result.max_rel_error
    assert result.passed is False
    result.tol = error * 2
    assert result.passed is True
    result.tol = error
    assert result.passed is False
    assert GradcheckResult().passed is True        # nothing checked, nothing failed


@pytest.mark.parametrize("shape, max_checks, expected", [
    ((3, 4), 200, 12),          # small: every coordinate
    ((30, 30), 200, 200),       # large: a random sample of max_checks
    ((2, 3, 5, 5), 50, 50),
    ((7,), 7, 7),               # exactly max_checks: all of them
])
def test_large_inputs_are_sampled_small_ones_checked_fully(shape, max_checks, expected):
    """`checked` reports how many coordinates were compared: all, or max_checks of them."""
    x = np.random.default_rng(4).standard_normal(shape)
    (check,) = gradcheck(scale_forward, scale_backward, {"x": x}, max_checks=max_checks).inputs
    assert check.checked == expected
    assert check.shape == shape


def test_sampled_coordinates_still_find_a_wrong_backward():
    """A sample of 200 of 900 coordinates catches a backward that is wrong everywhere."""
    x = np.random.default_rng(5).standard_normal((30, 30))
    result = gradcheck(scale_forward, lambda dout, cache: 2 * dout, {"x": x})
    assert result.inputs[0].checked == 200
    assert result.passed is False


def test_inputs_are_checked_in_float64_and_left_untouched():
    """float32 inputs are copied to float64 for the check; the caller's array is not modified."""
    x = np.random.default_rng(6).standard_normal((3, 3)).astype(np.float32)
    before = x.copy()
    dtypes = []

    def forward(x):
        dtypes.append(x.dtype)
        return 3 * x + 1, None

    assert gradcheck(forward, scale_backward, {"x": x}).passed
    assert set(dtypes) == {np.dtype(np.float64)}
    np.testing.assert_array_equal(x, before)


def test_wrt_checks_only_the_named_inputs():
    """wrt picks the inputs to check; the backward then returns exactly those gradients."""
    rng = np.random.default_rng(7)
    inputs = {"x": rng.standard_normal((2, 3)), "w": rng.standard_normal((4, 3)),
              "b": rng.standard_normal(4)}
    result = gradcheck(linear_forward, lambda dout, cache: linear_backward(dout, cache)[1],
                       inputs, wrt=["w"])
    assert [check.name for check in result.inputs] == ["w"]
    assert result.passed


# ---------------------------------------------------------------------------------------------
# tie_free
# ---------------------------------------------------------------------------------------------

@given(st.lists(st.integers(1, 5), min_size=1, max_size=4), st.floats(1e-3, 1.0),
       st.integers(0, 2**32 - 1))
def test_tie_free_values_are_distinct_spaced_and_away_from_zero(shape, spacing, seed):
    """All values distinct, neighbours (sorted) at least `spacing` apart, none within spacing/4
    of zero, in float64 and in the requested shape."""
    values = tie_free(tuple(shape), np.random.default_rng(seed), spacing=spacing)
    assert values.shape == tuple(shape)
    assert values.dtype == np.float64
    flat = np.sort(values.ravel())
    assert len(np.unique(flat)) == flat.size
    assert np.all(np.diff(flat) >= spacing * (1 - 1e-9))
    assert np.all(np.abs(flat) >= spacing / 4 * (1 - 1e-9))


def test_tie_free_depends_on_the_generator():
    """The same seed gives the same array; another seed shuffles it differently."""
    a = tie_free((4, 5), np.random.default_rng(1))
    b = tie_free((4, 5), np.random.default_rng(1))
    c = tie_free((4, 5), np.random.default_rng(2))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    np.testing.assert_array_equal(np.sort(a.ravel()), np.sort(c.ravel()))


# ---------------------------------------------------------------------------------------------
# Printing
# ---------------------------------------------------------------------------------------------

def test_str_of_a_passing_result_names_each_input():
    """str(result) says 'passed', gives the tolerance, and has one line per checked input."""
    rng = np.random.default_rng(8)
    result = gradcheck(linear_forward, linear_backward,
                       {"x": rng.standard_normal((2, 3)), "w": rng.standard_normal((4, 3)),
                        "b": rng.standard_normal(4)}, rng=rng)
    text = str(result)
    first, *lines = text.splitlines()
    assert "passed" in first and "FAILED" not in first
    assert "1e-06" in first
    assert [line.split()[0] for line in lines] == ["dx", "dw", "db"]
    assert "(4, 3)" in lines[1]
    assert "rel error" in lines[1]


def test_str_of_a_failing_result_says_failed_and_where():
    """A failing check reads FAILED and shows the worst element with both derivatives."""
    backward, seen = planted_backward((1, 0), 2.0)
    result = gradcheck(scale_forward, backward, {"x": np.ones((2, 2))})
    text = str(result)
    assert text.splitlines()[0].startswith("gradcheck FAILED")
    assert "dx (2, 2)" in text
    assert "worst at (1, 0)" in text
    assert "over 4 coordinates" in text
    assert f"analytic {3 * seen[0][1, 0] + 2.0:.6g}" in text


# ---------------------------------------------------------------------------------------------
# Malformed backward passes
# ---------------------------------------------------------------------------------------------

def test_backward_with_too_few_gradients_raises():
    """Two gradients for three inputs is a wiring mistake, reported as such."""
    rng = np.random.default_rng(9)
    inputs = {"x": rng.standard_normal((2, 3)), "w": rng.standard_normal((4, 3)),
              "b": rng.standard_normal(4)}
    with pytest.raises(ValueError, match=r"returned 2 gradients for 3 inputs"):
        gradcheck(linear_forward, lambda dout, cache: linear_backward(dout, cache)[:2], inputs)


def test_backward_with_a_wrongly_shaped_gradient_raises():
    """A gradient whose shape differs from its input's is refused, naming both shapes."""
    with pytest.raises(ValueError, match=r"returned dx of shape \(3, 2\), expected \(2, 3\)"):
        gradcheck(scale_forward, lambda dout, cache: (3 * dout).T, {"x": np.ones((2, 3))})


def test_loss_with_the_wrong_number_of_gradients_raises():
    """gradcheck_loss refuses a loss that returns fewer gradients than the names in wrt."""
    def loss_fn(a, b):
        return float(np.sum(a * b)), b

    with pytest.raises(ValueError, match=r"returned 1 gradients for 2 inputs"):
        gradcheck_loss(loss_fn, {"a": np.ones(3), "b": np.ones(3)}, ["a", "b"])


def test_loss_with_a_wrongly_shaped_gradient_raises():
    def loss_fn(a):
        return float(np.sum(a**2)), 2 * a.ravel()

    with pytest.raises(ValueError, match=r"returned da of shape \(6,\), expected \(2, 3\)"):
        gradcheck_loss(loss_fn, {"a": np.ones((2, 3))}, ["a"])


def test_gradcheck_loss_passes_a_correct_loss_and_fails_a_wrong_one():
    """L = sum(a^2 b): da = 2 a b passes; the forgotten factor 2 fails."""
    rng = np.random.default_rng(10)
    inputs = {"a": rng.standard_normal((3, 2)), "b": rng.standard_normal((3, 2))}
    right = gradcheck_loss(lambda a, b: (np.sum(a * a * b), 2 * a * b, a * a), inputs, ["a", "b"])
    wrong = gradcheck_loss(lambda a, b: (np.sum(a * a * b), a * b, a * a), inputs, ["a", "b"])
    assert right.passed
    assert wrong.passed is False
    assert [c.rel_error < DEFAULT_TOL for c in wrong.inputs] == [False, True]


# ---------------------------------------------------------------------------------------------
# The suite behind `minifrcnn gradcheck`
# ---------------------------------------------------------------------------------------------

ALL_LAYERS = {"conv2d", "relu", "maxpool2d", "linear", "dropout", "roi_pool",
              "softmax_cross_entropy", "smooth_l1_loss", "multitask_loss", "fast_rcnn", "linear_svd", "fast_rcnn_svd"}


def test_suite_covers_every_layer():
    """One or more cases per layer, overlapping max pooling and a scale of 1/2 for RoIs included."""
    cases = suite_cases(np.random.default_rng(0))
    assert {case.layer for case in cases} == ALL_LAYERS
    assert any("overlapping" in case.shapes for case in cases if case.layer == "maxpool2d")
    assert any("scale 1/2" in case.shapes for case in cases if case.layer == "roi_pool")


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 5])
def test_suite_passes_for_several_seeds(seed):
    """Every layer's backward pass passes on the shapes each seed draws."""
    results = run_suite(seed=seed)
    assert {case.layer for case, _ in results} == ALL_LAYERS
    for case, result in results:
        assert result.passed, f"{case.layer} {case.shapes}:\n{result}"


def test_suite_can_be_limited_to_some_layers():
    """layers=[...] runs only those layers' cases, with the tolerance given."""
    results = run_suite(seed=0, tol=1e-5, layers=["relu", "roi_pool"])
    assert [case.layer for case, _ in results] == ["relu", "roi_pool", "roi_pool"]
    assert all(result.tol == 1e-5 for _, result in results)


def test_a_row_gives_the_same_numbers_alone_or_in_the_full_run():
    """Each row draws from a generator of its own (the seed and the row), so --layer roi_pool
    reproduces the full run's roi_pool rows digit for digit, whatever ran before them."""
    full = [(case.shapes, result) for case, result in run_suite(seed=3)
            if case.layer == "roi_pool"]
    alone = [(case.shapes, result) for case, result in run_suite(seed=3, layers=["roi_pool"])]
    assert [shapes for shapes, _ in alone] == [shapes for shapes, _ in full]
    for (_, a), (_, b) in zip(alone, full):
        assert [(c.rel_error, c.worst_index, c.numeric, c.analytic) for c in a.inputs] == \
            [(c.rel_error, c.worst_index, c.numeric, c.analytic) for c in b.inputs]
    # Another seed gives other numbers: the rows do depend on it.
    other = run_suite(seed=4, layers=["roi_pool"])
    assert [r.max_rel_error for _, r in other] != [r.max_rel_error for _, r in alone]
