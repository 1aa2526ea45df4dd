"""The checks of the loss exercises: softmax_cross_entropy and smooth_l1_loss, against
minifrcnn.layers; on tiny float64 cases the gradient is also held to central differences of the
reference loss."""

import numpy as np
from hypothesis import strategies as st

from .. import layers
from ..gradcheck import numerical_gradient
from .calls import Call
from .engine import Grader
from .judge import FD_TOLERANCE, Case, compare, unpack
from .layer_checks import DTYPES, SEEDS, TINY


def judge_loss(case, value, function, names, loss_expected, grad_expected, fd=None, hints=None):
    hints = hints or {}
    dtype = case.inputs[next(iter(case.inputs))].dtype
    got, failure = unpack(value, 2, function, names)
    if failure:
        return failure
    failure = compare("loss", got[0], loss_expected, hint=hints.get("loss"),
                      tol=1e-4 if dtype == np.float32 else 1e-8)
    if failure:
        return failure
    if fd is not None:
        return compare(names[1], got[1], fd, dtype=dtype, tol=FD_TOLERANCE,
                       hint=hints.get(names[1]), source="central differences")
    return compare(names[1], got[1], grad_expected, dtype=dtype, hint=hints.get(names[1]))


def central(loss, x):
    """Central differences of a loss(x) -> (value, ...) on a tiny float64 x, else None."""
    if x.dtype != np.float64 or x.size > TINY or x.size == 0:
        return None
    return numerical_gradient(lambda v: float(loss(v)[0]), x.copy(), 1e-6)


class SoftmaxCrossEntropy(Grader):
    exercise = "softmax_cross_entropy"
    properties = {"loss": "the mean over rows of -log softmax(scores)[label]",
                  "dscores": "(softmax(scores) - onehot(labels)) / R"}

    @staticmethod
    def make(seed, rows, classes, scale, dtype, label=""):
        rng = np.random.default_rng(seed)
        scores = (rng.standard_normal((rows, classes)) * scale).astype(dtype)
        return Case({"scores": scores, "labels": rng.integers(0, classes, rows)}, label)

    def edge_cases(self):
        m = self.make
        return [m(1, 3, 4, 1000.0, np.float64, "logits near 1000: exp() overflows without the max subtracted"),
                m(2, 2, 3, 1000.0, np.float32, "float32 logits near 1000"),
                m(3, 0, 3, 1.0, np.float64, "no rows: loss 0, an empty gradient"),
                m(4, 3, 1, 1.0, np.float64, "a single class"),
                m(5, 4, 5, 0.0, np.float32, "all scores equal"),
                Case({"scores": np.array([[1000.0, 999.0], [0.0, -1.0]]), "labels": np.array([0, 1])},
                     "one row near 1000, one near 0: subtract each ROW's maximum")]

    def strategy(self):
        return st.builds(self.make, SEEDS, st.integers(0, 6), st.integers(1, 6),
                         st.sampled_from([1.0, 5.0, 100.0]), DTYPES)

    def calls(self, case):
        return [Call("softmax_cross_entropy", (case.inputs["scores"], case.inputs["labels"]),
                     ("scores", "labels"))]

    def judge(self, case, values):
        scores, labels = case.inputs["scores"], case.inputs["labels"]
        loss, dscores = layers.softmax_cross_entropy(scores, labels)

        def hint_loss(actual, expected):
            if not np.isfinite(actual).all():
                return "subtract each row's maximum before exp(): softmax is unchanged by it."
            rows = len(labels)
            if rows and np.isclose(actual, expected * rows):
                return "the loss is the MEAN over rows, not the sum."
            return ""

        fd = central(lambda s: layers.softmax_cross_entropy(s, labels), scores)
        return judge_loss(case, values[0], "softmax_cross_entropy", ("loss", "dscores"), loss,
                          dscores, fd, hints={"loss": hint_loss})


class SmoothL1Loss(Grader):
    exercise = "smooth_l1_loss"
    properties = {"loss": "sum(outside * smooth_L1(inside * (pred - target))) / R",
                  "dpred": "outside * inside * smooth_L1'(d) / R"}

    @staticmethod
    def make(seed, rows, cols, sigma, dtype, spread, label=""):
        rng = np.random.default_rng(seed)
        target = rng.standard_normal((rows, cols))
        diff = rng.standard_normal((rows, cols)) * spread
        # Inside weights are 0 or 1 in Fast R-CNN, but any weight must reach the gradient too.
        inside = rng.choice([0.0, 1.0, 1.0, 0.5, 2.0], (rows, cols))
        outside = rng.uniform(0.5, 2, (rows, cols))
        cast = (lambda a: a.astype(dtype))
        return Case({"pred": cast(target + diff), "target": cast(target), "inside_weights": cast(inside),
                     "outside_weights": cast(outside), "sigma": sigma}, label)

    def edge_cases(self):
        m = self.make
        return [m(1, 3, 4, 3.0, np.float64, 0.2, "sigma 3: the quadratic zone is |d| < 1/9"),
                m(2, 4, 4, 1.0, np.float64, 2.0, "errors on both sides of |d| = 1"),
                m(3, 0, 4, 1.0, np.float64, 1.0, "no rows: loss 0"),
                m(4, 3, 8, 1.0, np.float32, 1.0, "float32"),
                m(5, 2, 4, 0.5, np.float64, 3.0, "sigma 0.5: the quadratic zone is |d| < 4")]

    def strategy(self):
        return st.builds(self.make, SEEDS, st.integers(0, 5), st.integers(1, 8),
                         st.sampled_from([1.0, 3.0, 0.5, 2.0]), DTYPES,
                         st.sampled_from([0.1, 1.0, 3.0]))

    def calls(self, case):
        names = ("pred", "target", "inside_weights", "outside_weights", "sigma")
        return [Call("smooth_l1_loss", tuple(case.inputs[n] for n in names), names)]

    def judge(self, case, values):
        i = case.inputs
        rest = (i["target"], i["inside_weights"], i["outside_weights"], i["sigma"])
        loss, dpred = layers.smooth_l1_loss(i["pred"], *rest)
        fd = None
        d = i["inside_weights"] * (i["pred"] - i["target"])
        if np.all(np.abs(np.abs(d) - 1 / i["sigma"] ** 2) > 1e-4):    # away from the kink
            fd = central(lambda p: layers.smooth_l1_loss(p, *rest), i["pred"])
        return judge_loss(case, values[0], "smooth_l1_loss", ("loss", "dpred"), loss, dpred, fd)


GRADERS = [SoftmaxCrossEntropy(), SmoothL1Loss()]
