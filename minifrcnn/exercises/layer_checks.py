"""The checks of the layer exercises: numerical_gradient, relu, linear, conv2d, maxpool2d and
roi_pool. Outputs are compared with minifrcnn.layers; gradients with the reference backward on the
same upstream gradient dout, or, for the smooth layers on tiny float64 inputs, with central
differences of the reference forward (minifrcnn.gradcheck.numerical_gradient)."""

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from .. import layers
from ..gradcheck import numerical_gradient
from ..layers.roi_pool import roi_bins
from .calls import Call, Previous, Probe
from .engine import Grader
from .judge import FD_TOLERANCE, Case, compare, unpack

DTYPES = st.sampled_from([np.float64, np.float32])
SEEDS = st.integers(0, 2 ** 16)
TINY = 64          # finite differences only for inputs of at most this many elements


def values(rng, shape, dtype, style="normal"):
    """An array for a case. normal: standard normal; distinct: all different, well apart (no
    ties, no zeros); ties: small integers, so maxima and zeros repeat."""
    n = int(np.prod(shape))
    if style == "distinct":
        v = (rng.permutation(n) - n / 2 + 0.25) / 4
    elif style == "ties":
        v = rng.integers(-1, 2, n).astype(np.float64)
    else:
        v = rng.standard_normal(n)
    return v.reshape(shape).astype(dtype)


def pair_calls(forward, backward, case, forward_args):
    """Forward with the named inputs, then backward with dout and the forward's cache."""
    args = tuple(case.inputs[name] for name in forward_args)
    return [Call(forward, args, forward_args, opaque=(1,)),
            Call(backward, (case.inputs["dout"], Previous(0, 1)), ("dout", "cache"))]


def gradient_source(case, reference_forward, names):
    """Expected gradients of the inputs `names` (the reference forward's arguments, in order):
    central differences of the reference forward on tiny float64 cases (smooth layers), else
    None (the caller uses the reference backward)."""
    if case.inputs[names[0]].dtype != np.float64 or sum(case.inputs[n].size for n in names) > TINY:
        return None
    dout = case.inputs["dout"]
    expected = {}
    for name in names:
        inputs = {n: case.inputs[n].copy() for n in names}

        def objective(value, name=name, inputs=inputs):
            inputs[name] = value
            return float(np.sum(reference_forward(*(inputs[n] for n in names))[0] * dout))

        expected[name] = numerical_gradient(objective, case.inputs[name].copy(), 1e-6)
    return expected


def judge_pair(case, values, forward, backward, out_expected, grads_expected, grad_names,
               hints=None, fd=None):
    """The common judgement of a forward/backward pair: (out, cache), then the gradients."""
    hints = hints or {}
    dtype = case.inputs["dout"].dtype
    got, failure = unpack(values[0], 2, forward, ("out", "cache"))
    if failure:
        return failure
    failure = compare("out", got[0], out_expected, dtype=dtype, hint=hints.get("out"))
    if failure:
        return failure
    grads, failure = unpack(values[1], len(grad_names), backward, grad_names)
    if failure:
        return failure
    for name, actual, expected in zip(grad_names, grads, grads_expected):
        source, tol = "the reference backward", None
        if fd is not None and name[1:] in fd:
            expected, source, tol = fd[name[1:]], "central differences", FD_TOLERANCE
        failure = compare(name, actual, expected, dtype=dtype, tol=tol, hint=hints.get(name),
                          source=source)
        if failure:
            return failure
    return None


# --- numerical_gradient ---------------------------------------------------------------------

class NumericalGradient(Grader):
    exercise = "numerical_gradient"
    properties = {"gradient": "central differences of f at x, every coordinate",
                  "input unchanged": "x is exactly as it was after the call"}

    @staticmethod
    def make(seed, shape, h, label=""):
        rng = np.random.default_rng(seed)
        x = rng.uniform(-2, 2, shape)
        probe = Probe(rng.uniform(0.5, 2, shape), rng.uniform(1, 4, shape), rng.uniform(0.2, 1))
        return Case({"f": probe, "x": x, "h": h}, label)

    def edge_cases(self):
        return [self.make(1, (3,), 1e-3, "a vector, h = 1e-3 (a forward difference is off by ~1e-3)"),
                self.make(2, (2, 3), 1e-5, "a 2-D x: every coordinate, not just every row"),
                self.make(3, (2, 1, 2), 1e-4, "a 3-D x"),
                self.make(4, (1,), 1e-3, "a single coordinate"),
                self.make(5, (2, 2), 0.1, "h = 0.1: the step given, not one of your own")]

    def strategy(self):
        shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)
        return st.builds(self.make, SEEDS, shapes, st.sampled_from([1e-3, 1e-4, 1e-5, 0.1]))

    def calls(self, case):
        return [Call("numerical_gradient", (case.inputs["f"], case.inputs["x"], case.inputs["h"]),
                     ("f", "x", "h"))]

    def judge(self, case, values):
        got, failure = unpack(values[0], 1, "numerical_gradient", ("grad",))
        if failure:
            return failure
        f, x, h = case.inputs["f"], case.inputs["x"], case.inputs["h"]
        expected = numerical_gradient(f, x.copy(), h)

        def hint(actual, expected):
            forward = np.array([(f(x + h * e) - f(x)) / h for e in np.eye(x.size).reshape(-1, *x.shape)])
            if actual.shape == x.shape and np.allclose(actual, forward.reshape(x.shape), atol=1e-9):
                return "this is a forward difference (f(x + h) - f(x)) / h: its error is of order h."
            return ""

        return compare("gradient", got[0], expected, dtype=np.float64, tol=1e-6, hint=hint,
                       source="central differences")


# --- relu -------------------------------------------------------------------------------------

class Relu(Grader):
    exercise = "relu"
    properties = {"out": "max(x, 0)", "dx": "dout where x > 0, else 0 (also at x == 0)"}

    @staticmethod
    def make(seed, shape, dtype, style, label=""):
        rng = np.random.default_rng(seed)
        x = values(rng, shape, dtype, style)
        return Case({"x": x, "dout": values(rng, shape, dtype)}, label)

    def edge_cases(self):
        return [self.make(1, (2, 5), np.float64, "ties", "zeros in x: the subgradient at 0 is 0"),
                self.make(2, (2, 3, 2, 2), np.float32, "normal", "float32, 4-D"),
                self.make(3, (4,), np.float64, "distinct", "1-D")]

    def strategy(self):
        shapes = st.lists(st.integers(1, 5), min_size=1, max_size=4).map(tuple)
        return st.builds(self.make, SEEDS, shapes, DTYPES, st.sampled_from(["normal", "ties"]))

    def calls(self, case):
        return pair_calls("relu_forward", "relu_backward", case, ("x",))

    def judge(self, case, values):
        out, cache = layers.relu_forward(case.inputs["x"])
        dx = layers.relu_backward(case.inputs["dout"], cache)

        def hint_dx(actual, expected):
            x = case.inputs["x"]
            if np.any(x == 0) and np.allclose(np.where(x == 0, 0, actual), expected):
                return "the gradient at x == 0 must be 0 (x > 0, not x >= 0)."
            return ""

        return judge_pair(case, values, "relu_forward", "relu_backward", out, (dx,), ("dx",),
                          hints={"dx": hint_dx})


# --- linear -----------------------------------------------------------------------------------

class Linear(Grader):
    exercise = "linear"
    properties = {"out": "x_flat @ w.T + b", "dx": "the gradient of x, in x's own shape",
                  "dw": "the gradient of w", "db": "the gradient of b"}

    @staticmethod
    def make(seed, n, feature_shape, m, dtype, label=""):
        rng = np.random.default_rng(seed)
        d = int(np.prod(feature_shape))
        return Case({"x": values(rng, (n, *feature_shape), dtype),
                     "w": values(rng, (m, d), dtype), "b": values(rng, (m,), dtype),
                     "dout": values(rng, (n, m), dtype)}, label)

    def edge_cases(self):
        return [self.make(1, 2, (2, 2, 2), 3, np.float64, "x (N, C, H, W): flattened, dx comes back 4-D"),
                self.make(2, 1, (3,), 1, np.float32, "float32, one row, one output"),
                self.make(3, 3, (4,), 2, np.float64, "x (N, D)")]

    def strategy(self):
        features = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)
        return st.builds(self.make, SEEDS, st.integers(1, 4), features, st.integers(1, 5), DTYPES)

    def calls(self, case):
        return pair_calls("linear_forward", "linear_backward", case, ("x", "w", "b"))

    def judge(self, case, values):
        i = case.inputs
        out, cache = layers.linear_forward(i["x"], i["w"], i["b"])
        grads = layers.linear_backward(i["dout"], cache)
        fd = gradient_source(case, layers.linear_forward, ("x", "w", "b"))
        return judge_pair(case, values, "linear_forward", "linear_backward", out, grads,
                          ("dx", "dw", "db"), fd=fd)


# --- conv2d -----------------------------------------------------------------------------------

class Conv2d(Grader):
    exercise = "conv2d"
    properties = {"out": "the cross-correlation plus bias, H' = 1 + (H + 2 pad - KH) // stride",
                  "dx": "the gradient of x", "dw": "the gradient of w", "db": "the gradient of b"}

    @staticmethod
    def make(seed, n, c, f, h, w, kh, kw, stride, pad, dtype, label=""):
        rng = np.random.default_rng(seed)
        out_h = 1 + (h + 2 * pad - kh) // stride
        out_w = 1 + (w + 2 * pad - kw) // stride
        return Case({"x": values(rng, (n, c, h, w), dtype), "w": values(rng, (f, c, kh, kw), dtype),
                     "b": values(rng, (f,), dtype), "stride": stride, "pad": pad,
                     "dout": values(rng, (n, f, out_h, out_w), dtype)}, label)

    def edge_cases(self):
        m = self.make
        return [m(1, 1, 1, 1, 4, 4, 3, 3, 1, 1, np.float64, "padding 1: the border pixels get gradient too"),
                m(2, 1, 2, 2, 5, 6, 2, 3, 1, 0, np.float64, "a 2x3 kernel on a 5x6 input: not square"),
                m(3, 2, 2, 3, 7, 7, 3, 3, 2, 1, np.float32, "stride 2, float32"),
                m(4, 1, 1, 1, 6, 6, 3, 3, 2, 0, np.float64, "stride 2 with a row left over at the far edge"),
                m(5, 2, 3, 2, 3, 3, 1, 1, 1, 0, np.float64, "a 1x1 kernel"),
                m(6, 1, 2, 2, 3, 4, 3, 4, 1, 0, np.float64, "the kernel as large as the input: one output")]

    def strategy(self):
        @st.composite
        def cases(draw):
            kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
            pad = draw(st.integers(0, 2))
            h = draw(st.integers(max(1, kh - 2 * pad), 7))
            w = draw(st.integers(max(1, kw - 2 * pad), 7))
            return self.make(draw(SEEDS), draw(st.integers(1, 2)), draw(st.integers(1, 3)),
                             draw(st.integers(1, 3)), h, w, kh, kw, draw(st.integers(1, 3)), pad,
                             draw(DTYPES))
        return cases()

    def calls(self, case):
        return pair_calls("conv2d_forward", "conv2d_backward", case, ("x", "w", "b", "stride", "pad"))

    def judge(self, case, values):
        i = case.inputs

        def forward(x, w, b):
            return layers.conv2d_forward(x, w, b, i["stride"], i["pad"])

        out, cache = forward(i["x"], i["w"], i["b"])
        grads = layers.conv2d_backward(i["dout"], cache)
        fd = gradient_source(case, forward, ("x", "w", "b"))

        def hint_out(actual, expected):
            if actual.shape != expected.shape:
                return ("check the output size: H' = 1 + (H + 2 pad - KH) // stride, with the "
                        "padding on both sides.")
            return ""

        def hint_dx(actual, expected):
            if actual.shape == expected.shape:
                return ("dx is a full convolution of dout with the kernel rotated by 180 degrees "
                        "(or: add each output's dout * w back onto the patch it came from).")
            return ""

        return judge_pair(case, values, "conv2d_forward", "conv2d_backward", out, grads,
                          ("dx", "dw", "db"), hints={"out": hint_out}, fd=fd)


# --- maxpool2d --------------------------------------------------------------------------------

def _sum_hint(actual, expected):
    if actual.shape == expected.shape and np.all((actual != 0) <= (expected != 0) | (actual == 0)):
        if np.any(np.abs(actual) < np.abs(expected) - 1e-6):
            return ("a cell that wins several windows must receive the SUM of their gradients: "
                    "add (+=), do not assign (=).")
    if actual.shape == expected.shape and np.count_nonzero(actual) > np.count_nonzero(expected):
        return ("only the cell that won a window's max receives its gradient (on ties, the first "
                "in row-major order, as np.argmax picks).")
    return ""


class Maxpool2d(Grader):
    exercise = "maxpool2d"
    properties = {"out": "the max of every window, H' = 1 + (H - size) // stride",
                  "dx": "each window's gradient at its winning cell (the first on ties), summed"}

    @staticmethod
    def make(seed, n, c, h, w, size, stride, dtype, style, label=""):
        rng = np.random.default_rng(seed)
        out_h, out_w = 1 + (h - size) // stride, 1 + (w - size) // stride
        return Case({"x": values(rng, (n, c, h, w), dtype, style), "size": size, "stride": stride,
                     "dout": values(rng, (n, c, out_h, out_w), dtype)}, label)

    def edge_cases(self):
        m = self.make
        return [m(1, 1, 1, 5, 7, 3, 2, np.float64, "distinct",
                  "overlapping 3x3 windows, stride 2, on a 5x7 input: cells shared by two windows"),
                m(2, 1, 2, 4, 4, 2, 2, np.float64, "ties", "ties: the first maximum in row-major order wins"),
                m(3, 2, 1, 6, 6, 2, 3, np.float32, "normal", "stride 3 > size 2: cells in no window"),
                m(4, 1, 1, 5, 5, 2, 2, np.float32, "distinct", "a row and a column left over"),
                m(5, 1, 1, 4, 4, 4, 1, np.float64, "distinct", "one window covering everything")]

    def strategy(self):
        @st.composite
        def cases(draw):
            size = draw(st.integers(1, 4))
            h, w = draw(st.integers(size, 8)), draw(st.integers(size, 8))
            return self.make(draw(SEEDS), draw(st.integers(1, 2)), draw(st.integers(1, 2)), h, w,
                             size, draw(st.integers(1, 4)), draw(DTYPES),
                             draw(st.sampled_from(["distinct", "ties", "normal"])))
        return cases()

    def calls(self, case):
        return pair_calls("maxpool2d_forward", "maxpool2d_backward", case, ("x", "size", "stride"))

    def judge(self, case, values):
        i = case.inputs
        out, cache = layers.maxpool2d_forward(i["x"], i["size"], i["stride"])
        dx = layers.maxpool2d_backward(i["dout"], cache)
        return judge_pair(case, values, "maxpool2d_forward", "maxpool2d_backward", out, (dx,),
                          ("dx",), hints={"dx": _sum_hint})


# --- roi_pool ---------------------------------------------------------------------------------

class RoiPool(Grader):
    exercise = "roi_pool"
    properties = {"out": "each RoI projected (C's round), cut into PH x PW bins, max-pooled",
                  "dfeatures": "each bin's gradient at its winning cell, summed over bins and RoIs"}

    @staticmethod
    def make(seed, n, c, h, w, rois, output_size, spatial_scale, dtype, style="distinct", label=""):
        rng = np.random.default_rng(seed)
        features = values(rng, (n, c, h, w), dtype, style)
        rois = np.array(rois, dtype=dtype).reshape(-1, 5)
        return Case({"features": features, "rois": rois, "output_size": tuple(output_size),
                     "spatial_scale": spatial_scale,
                     "dout": values(rng, (len(rois), c, *output_size), dtype)}, label)

    def edge_cases(self):
        m = self.make
        return [
            m(1, 1, 1, 6, 6, [[0, 2, 1, 9, 8]], (2, 2), 0.5, np.float64, label=
              "coordinates times the scale end in .5: C's round (half away from zero), not np.round"),
            m(2, 1, 1, 5, 5, [[0, 3, 3, 9, 9]], (2, 2), 1.0, np.float64, label="a RoI crossing the border"),
            m(3, 1, 2, 5, 5, [[0, 2, 3, 2, 3]], (2, 2), 1.0, np.float64, label="a degenerate 1-pixel RoI"),
            m(4, 1, 1, 6, 6, [[0, 0, 0, 4, 4]], (3, 3), 1.0, np.float64, label=
              "5 cells in 3 bins: neighbouring bins share a cell"),
            m(5, 1, 1, 4, 4, [[0, 0, 0, 3, 3], [0, 1, 1, 3, 3]], (2, 2), 1.0, np.float32, label=
              "two RoIs over the same cells: their gradients add up, float32"),
            m(6, 2, 1, 4, 4, [[1, 0, 0, 2, 3], [0, 2, 0, 3, 1]], (2, 2), 1.0, np.float64, label=
              "batch index 1"),
            m(7, 1, 1, 4, 4, [[0, 2, 0, 9, 3]], (1, 4), 1.0, np.float64, label=
              "bins beyond the map's right edge are empty: 0 out, no gradient"),
            m(8, 1, 1, 3, 4, [[0, 0, 0, 63, 47]], (2, 2), 1 / 16, np.float64, "ties", label=
              "spatial scale 1/16 and tied maxima"),
            m(9, 1, 1, 5, 5, [[0, 3, 3, 1, 1]], (2, 2), 1.0, np.float64, label=
              "a malformed RoI, x2 < x1 and y2 < y1: it still covers one cell"),
            m(10, 1, 2, 3, 3, np.zeros((0, 5)), (2, 2), 1.0, np.float32, label=
              "no RoIs: an empty output, a zero gradient"),
        ]

    def strategy(self):
        @st.composite
        def cases(draw):
            n, c = draw(st.integers(1, 2)), draw(st.integers(1, 2))
            h, w = draw(st.integers(1, 8)), draw(st.integers(1, 8))
            spatial_scale = draw(st.sampled_from([1.0, 0.5, 0.25, 1 / 16]))
            size_h, size_w = h / spatial_scale, w / spatial_scale
            rois = []
            for _ in range(draw(st.integers(1, 4))):
                x1 = draw(st.integers(int(-0.25 * size_w), int(size_w)))
                y1 = draw(st.integers(int(-0.25 * size_h), int(size_h)))
                x2 = x1 + draw(st.integers(0, int(size_w)))
                y2 = y1 + draw(st.integers(0, int(size_h)))
                rois.append([draw(st.integers(0, n - 1)), x1, y1, x2, y2])
            output_size = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
            dtype = draw(DTYPES)
            case = self.make(draw(SEEDS), n, c, h, w, rois, output_size, spatial_scale, dtype,
                             draw(st.sampled_from(["distinct", "ties"])))
            if dtype == np.float32:
                # Fair to a float64 bin computation: float32 and float64 bins agree on this case.
                bins32 = roi_bins(case.inputs["rois"], spatial_scale, output_size, h, w, np.dtype(np.float32))
                bins64 = roi_bins(case.inputs["rois"], spatial_scale, output_size, h, w, np.dtype(np.float64))
                assume(all(np.array_equal(a, b) for a, b in zip(bins32, bins64)))
            return case
        return cases()

    def calls(self, case):
        return pair_calls("roi_pool_forward", "roi_pool_backward", case,
                          ("features", "rois", "output_size", "spatial_scale"))

    def judge(self, case, values):
        i = case.inputs
        out, cache = layers.roi_pool_forward(i["features"], i["rois"], i["output_size"], i["spatial_scale"])
        dfeatures = layers.roi_pool_backward(i["dout"], cache)
        return judge_pair(case, values, "roi_pool_forward", "roi_pool_backward", out, (dfeatures,),
                          ("dfeatures",), hints={"dfeatures": _sum_hint})


GRADERS = [NumericalGradient(), Relu(), Linear(), Conv2d(), Maxpool2d(), RoiPool()]
