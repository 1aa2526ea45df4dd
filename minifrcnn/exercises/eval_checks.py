"""The checks of voc_ap (against minifrcnn.evaluate) and truncated_svd (by its shapes, dtype and
the Eckart-Young optimum, not by the factors' signs, which any SVD may flip)."""

import numpy as np
from hypothesis import strategies as st

from ..evaluate import voc_ap
from .calls import Call
from .engine import Grader
from .judge import Case, Failure, compare, unpack
from .layer_checks import DTYPES, SEEDS


class VocAp(Grader):
    exercise = "voc_ap"
    properties = {"ap": "11-point AP (thresholds exactly k/10), or the area under the precision "
                        "envelope"}

    @staticmethod
    def curve(hits, objects):
        """recall and precision after each ranked detection: hits (D,) 1 for a true positive."""
        hits = np.asarray(hits, np.float64)
        tp = np.cumsum(hits)
        return tp / objects, tp / np.arange(1, len(hits) + 1)

    def make(self, hits, objects, use_07_metric, label=""):
        recall, precision = self.curve(hits, objects)
        return Case({"recall": recall, "precision": precision, "use_07_metric": use_07_metric},
                    label)

    def edge_cases(self):
        m = self.make
        return [m([1, 1, 0, 1, 0, 0], 5, True, "recall exactly 0.6 = 3/5: the threshold 0.6 counts it"),
                m([1, 0, 1, 1, 0, 1], 4, False, "precision rises again: the envelope"),
                m([], 3, True, "no detections (11-point): AP 0"),
                m([], 3, False, "no detections (area): AP 0"),
                m([0, 1, 0, 0, 1], 10, False, "recall never reaches 1"),
                m([1, 1, 1, 1, 1], 5, True, "every detection right: AP 1")]

    def strategy(self):
        def build(seed, count, objects, use_07_metric):
            rng = np.random.default_rng(seed)
            hits = rng.random(count) < 0.5
            return self.make(hits[:objects] if hits.sum() > objects else hits, objects, use_07_metric)
        return st.builds(build, SEEDS, st.integers(0, 12), st.sampled_from([5, 10, 4, 3]),
                         st.booleans())

    def calls(self, case):
        i = case.inputs
        return [Call("voc_ap", (i["recall"], i["precision"], i["use_07_metric"]),
                     ("recall", "precision", "use_07_metric"))]

    def judge(self, case, values):
        got, failure = unpack(values[0], 1, "voc_ap", ("ap",))
        if failure:
            return failure
        i = case.inputs
        expected = voc_ap(i["recall"], i["precision"], i["use_07_metric"])

        def hint(actual, expected_):
            if i["use_07_metric"]:
                return ("the 11 thresholds are exactly 0, 0.1, ..., 1 (k / 10: np.arange(0, 1.1, 0.1) "
                        "gives 0.6000000000000001), and a threshold counts recall >= t.")
            return ("take the precision envelope first (the largest precision at any recall >= r), "
                    "then sum it over the steps of recall from 0 to 1.")

        return compare("ap", got[0], expected, tol=1e-9, hint=hint)


class TruncatedSvd(Grader):
    exercise = "truncated_svd"
    properties = {"w_first": "(rank, in) in w's dtype", "w_second": "(out, rank) in w's dtype",
                  "w_second columns": "w_second = U_t has orthonormal columns (S belongs in "
                                      "w_first)",
                  "reconstruction": "|w - w_second @ w_first|_F^2 equals the sum of the dropped "
                                    "s_i^2, the best any rank-t matrix can do"}

    @staticmethod
    def make(seed, out, inp, rank, dtype, repeated=False, label=""):
        rng = np.random.default_rng(seed)
        if repeated:
            q, _ = np.linalg.qr(rng.standard_normal((max(out, inp), max(out, inp))))
            w = 2 * q[:out, :inp]                     # equal singular values: any basis is optimal
        else:
            w = rng.standard_normal((out, inp))
        return Case({"w": w.astype(dtype), "rank": rank}, label)

    def edge_cases(self):
        m = self.make
        return [m(1, 5, 3, 3, np.float64, label="full rank: w itself comes back"),
                m(2, 4, 6, 1, np.float64, label="rank 1 of a wide matrix"),
                m(3, 6, 4, 2, np.float32, label="float32, a tall matrix"),
                m(4, 4, 4, 2, np.float64, True, "equal singular values (any basis is optimal)"),
                m(5, 5, 5, 2, np.float64, label="square")]

    def strategy(self):
        @st.composite
        def cases(draw):
            out, inp = draw(st.integers(1, 8)), draw(st.integers(1, 8))
            return self.make(draw(SEEDS), out, inp, draw(st.integers(1, min(out, inp))), draw(DTYPES))
        return cases()

    def calls(self, case):
        return [Call("truncated_svd", (case.inputs["w"], case.inputs["rank"]), ("w", "rank"))]

    def judge(self, case, values):
        w, rank = case.inputs["w"], case.inputs["rank"]
        got, failure = unpack(values[0], 2, "truncated_svd", ("w_first", "w_second"))
        if failure:
            return failure
        out, inp = w.shape
        for name, value, shape in (("w_first", got[0], (rank, inp)), ("w_second", got[1], (out, rank))):
            value = np.asarray(value) if not isinstance(value, tuple) and value is not None else value
            if not isinstance(value, np.ndarray) or value.shape != shape:
                shown = value.shape if isinstance(value, np.ndarray) else type(value).__name__
                hint = ("w_first = S_t V_t^T (rank, in), w_second = U_t (out, rank): "
                        "w ~ w_second @ w_first.")
                return Failure(name, f"{name} has shape {shown}, expected {shape}", hint=hint)
            if value.dtype != w.dtype:
                return Failure(name, f"{name} has dtype {value.dtype}, expected {w.dtype}",
                               hint=f"{w.dtype} in, {w.dtype} out.")
        u = got[1].astype(np.float64)
        gram = u.T @ u
        if not np.allclose(gram, np.eye(rank), atol=1e-3 if w.dtype == np.float32 else 1e-8):
            return Failure("w_second columns", "w_second's columns are not orthonormal: "
                                               "w_second.T @ w_second is not the identity",
                           expected=np.eye(rank), actual=gram,
                           hint="w_second = U_t (the left singular vectors); S_t goes into "
                                "w_first = S_t V_t^T.")
        s = np.linalg.svd(w.astype(np.float64), compute_uv=False)
        best = float(np.sum(s[rank:] ** 2))
        approx = got[1].astype(np.float64) @ got[0].astype(np.float64)
        error = float(np.sum((w.astype(np.float64) - approx) ** 2))
        tol = (1e-4 if w.dtype == np.float32 else 1e-9) * float(np.sum(s ** 2))
        if abs(error - best) > tol:
            return Failure("reconstruction", f"|w - w_second @ w_first|^2 = {error:.6g}, but the best "
                                             f"rank-{rank} approximation reaches {best:.6g} (the sum "
                                             f"of the dropped s_i^2)", expected=best, actual=error,
                           hint="keep the LARGEST singular values (NumPy returns them in descending "
                                "order), and put S into w_first = S_t V_t^T.")
        return None


GRADERS = [VocAp(), TruncatedSvd()]
