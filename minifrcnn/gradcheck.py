"""Gradient checking: every hand-written backward pass against central finite differences.

For a layer y = f(x) and a random upstream gradient g (the dout of the backward pass), the
backward pass claims to compute dL/dx for the scalar L = sum(g * f(x)). Central differences
estimate the same thing one coordinate at a time:

    dL/dx_i ~ (L(x + eps e_i) - L(x - eps e_i)) / (2 eps)

with an error of order eps^2, which in float64 is far below the tolerance. A random g (rather
than all ones) makes sure every output's gradient is routed to the right place: with all ones,
swapping two outputs' gradients would go unnoticed.

Metric (one number per input, reported with the worst element's index):

    rel_error = max |numeric - analytic| / max(max |numeric|, max |analytic|, 1e-12)

Max-based layers (ReLU, max pooling, RoI pooling) are only differentiable away from ties and
kinks: check them on tie-free inputs (`tie_free`) whose gaps are much larger than eps.
"""

from dataclasses import dataclass, field

import numpy as np

from .backend import get_backend

DEFAULT_TOL = 1e-6


@dataclass
class InputCheck:
    """The check of one input: how far the analytic gradient is from the numeric one."""

    name: str
    shape: tuple
    rel_error: float
    worst_index: tuple
    numeric: float        # numeric derivative at worst_index
    analytic: float       # analytic derivative at worst_index
    checked: int          # coordinates compared (all of them, or a random sample)


@dataclass
class GradcheckResult:
    """The outcome of one gradient check; `passed` is what a test asserts on."""

    inputs: list = field(default_factory=list)
    tol: float = DEFAULT_TOL

    @property
    def max_rel_error(self):
        return max((c.rel_error for c in self.inputs), default=0.0)

    @property
    def passed(self):
        return self.max_rel_error < self.tol

    def __str__(self):
        lines = [f"gradcheck {'passed' if self.passed else 'FAILED'} (tolerance {self.tol:.0e})"]
        for c in self.inputs:
            lines.append(
                f"  d{c.name} {c.shape}: rel error {c.rel_error:.2e} over {c.checked} coordinates; "
                f"worst at {c.worst_index}: numeric {c.numeric:.6g}, analytic {c.analytic:.6g}"
            )
        return "\n".join(lines)


def tie_free(shape, rng, spacing=0.01):
    """A float64 array of the given shape whose values are all distinct, at least `spacing` apart,
    none within spacing / 4 of zero: a shuffled, centred arange.

    A perturbation of eps << spacing can then never change which cell wins a max, nor which side
    of ReLU's kink a value is on, so the finite differences see a smooth function.
    """
    n = int(np.prod(shape))
    values = (rng.permutation(n) - (n - 1) / 2 + (0.25 if n % 2 else 0.0)) * spacing
    return values.reshape(shape)


def _as_float64(value):
    if isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.floating):
        return value.astype(np.float64)
    return value


def _compare(name, x, numeric_at, analytic, coords):
    numeric = np.array([numeric_at(i) for i in coords])
    analytic_at = np.array([analytic[i] for i in coords])
    diff = np.abs(numeric - analytic_at)
    scale = max(np.abs(numeric).max(initial=0.0), np.abs(analytic_at).max(initial=0.0), 1e-12)
    worst = int(diff.argmax()) if len(coords) else 0
    return InputCheck(
        name=name,
        shape=x.shape,
        rel_error=float(diff.max(initial=0.0) / scale),
        worst_index=tuple(int(v) for v in coords[worst]) if len(coords) else (),
        numeric=float(numeric[worst]) if len(coords) else 0.0,
        analytic=float(analytic_at[worst]) if len(coords) else 0.0,
        checked=len(coords),
    )


def _coordinates(shape, max_checks, rng):
    """Every coordinate of a small array; a random sample of max_checks for a large one."""
    size = int(np.prod(shape))
    flat = np.arange(size) if size <= max_checks else rng.choice(size, max_checks, replace=False)
    return [np.unravel_index(i, shape) for i in flat]


def central_difference(f, x, index, h):
    """(f(x + h e_i) - f(x - h e_i)) / (2 h) for one index i of x: x is perturbed in place and
    restored before returning."""
    saved = x[index]
    x[index] = saved + h
    plus = f(x)
    x[index] = saved - h
    minus = f(x)
    x[index] = saved
    return (plus - minus) / (2 * h)


def numerical_gradient(f, x, h=1e-6):
    """The gradient of a scalar function by central differences, one coordinate at a time:

        df/dx_i ~ (f(x + h e_i) - f(x - h e_i)) / (2 h)

    f: a function of an array shaped like x, returning a scalar; x: a float64 array (left as it
    was: each coordinate is restored after its two evaluations); h: the step. The error is of
    order h^2 (a forward difference's is of order h). Returns a float64 array of x's shape;
    it costs 2 x.size calls of f, so keep x small.
    """
    grad = np.zeros(np.shape(x), dtype=np.float64)
    for index in np.ndindex(grad.shape):
        grad[index] = central_difference(f, x, index, h)
    return grad


def _check(objective, analytic, inputs, wrt, eps, tol, max_checks, rng):
    """objective(inputs) -> scalar; analytic: {name: gradient of objective}."""
    result = GradcheckResult(tol=tol)
    for name in wrt:
        x = inputs[name]
        grad = analytic[name]
        if grad.shape != x.shape:
            raise ValueError(f"the backward pass returned d{name} of shape {grad.shape}, expected {x.shape}")

        def numeric_at(index, x=x):
            return central_difference(lambda _: objective(inputs), x, index, eps)

        coords = _coordinates(x.shape, max_checks, rng)
        result.inputs.append(_compare(name, x, numeric_at, np.asarray(grad, dtype=np.float64), coords))
    return result


def gradcheck(forward, backward, inputs, wrt=None, *, rng=None, eps=1e-6, tol=DEFAULT_TOL,
              max_checks=200):
    """Check a forward/backward pair against central differences, in float64.

    forward(**inputs) -> (out, cache); backward(dout, cache) -> the gradient of each input named
    in `wrt`, in that order (one array, or a tuple). Bind non-array arguments with a lambda:

        gradcheck(lambda x, w, b: conv2d_forward(x, w, b, stride=2, pad=1), conv2d_backward,
                  {"x": x, "w": w, "b": b})

    inputs: {name: array}; floating arrays are copied to float64. wrt: the names to check
    (default: all). rng: np.random.Generator for the upstream gradient and the sampled
    coordinates. At most `max_checks` coordinates of each input are compared.
    Returns a GradcheckResult; `result.passed` is True when every relative error is below tol.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    inputs = {k: _as_float64(v) for k, v in inputs.items()}
    wrt = list(inputs) if wrt is None else list(wrt)
    out, cache = forward(**inputs)
    dout = rng.standard_normal(np.shape(out))
    grads = backward(dout, cache)
    grads = grads if isinstance(grads, tuple) else (grads,)
    if len(grads) != len(wrt):
        raise ValueError(f"the backward pass returned {len(grads)} gradients for {len(wrt)} inputs {wrt}")

    def objective(values):
        return float(np.sum(forward(**values)[0] * dout))

    return _check(objective, dict(zip(wrt, grads)), inputs, wrt, eps, tol, max_checks, rng)


def gradcheck_loss(loss_fn, inputs, wrt, *, rng=None, eps=1e-6, tol=DEFAULT_TOL, max_checks=200):
    """Check a loss that returns its own gradients: loss_fn(**inputs) -> (loss, d_1, d_2, ...),
    one gradient per name in `wrt`, in that order. Arguments as for `gradcheck`."""
    rng = np.random.default_rng(0) if rng is None else rng
    inputs = {k: _as_float64(v) for k, v in inputs.items()}
    _, *grads = loss_fn(**inputs)
    if len(grads) != len(wrt):
        raise ValueError(f"the loss returned {len(grads)} gradients for {len(wrt)} inputs {list(wrt)}")

    def objective(values):
        return float(loss_fn(**values)[0])

    return _check(objective, dict(zip(wrt, grads)), inputs, wrt, eps, tol, max_checks, rng)


def gradcheck_network(model, images, rois, labels, bbox_targets, bbox_weights, *, rng=None,
                      eps=1e-6, tol=DEFAULT_TOL, max_checks=30, dropout_seed=7):
    """Check a whole FastRCNN: the multi-task loss of model.forward, differentiated by
    model.backward layer by layer, against central differences in every trainable parameter.

    model: a float64 FastRCNN; images (N, 3, H, W), rois (R, 5), labels (R,), bbox_targets and
    bbox_weights (R, 4(K+1)) as for training. Dropout is on, with the same units dropped on
    every forward (a fresh generator seeded with dropout_seed each time), so the loss is a fixed
    function of the parameters. Returns a GradcheckResult with one entry per parameter.
    """
    from .layers import multitask_loss

    rng = np.random.default_rng(0) if rng is None else rng
    if model.dtype != np.float64:
        raise ValueError(f"check the network in float64, got a {model.dtype} model")

    def loss_and_grads():
        cls_score, bbox_pred = model.forward(images, rois, train=True,
                                             rng=np.random.default_rng(dropout_seed))
        loss, dcls_score, dbbox_pred = multitask_loss(cls_score, bbox_pred, labels, bbox_targets,
                                                      bbox_weights)
        return loss, dcls_score, dbbox_pred

    _, dcls_score, dbbox_pred = loss_and_grads()
    model.backward(dcls_score, dbbox_pred)
    analytic = dict(model.grads)

    # The parameters are perturbed in place, so the objective reads them from the model.
    def objective(_):
        return float(loss_and_grads()[0])

    return _check(objective, analytic, model.params, model.trainable(), eps, tol, max_checks, rng)


def network_case(rng, backend="numpy", ranks=None):
    """The suite's whole-network row: a float64 `tiny` FastRCNN on two small images; with
    `ranks` ({"fc6": 4, ...}), those layers compressed by truncated SVD first."""
    from .model import FastRCNN
    from .svd import compress

    model = FastRCNN("tiny", ["__background__", "a", "b"], backend=backend, dtype=np.float64, rng=rng)
    if ranks:
        model = compress(model, ranks)
    # Non-zero biases: with the initial zeros, a unit whose inputs are all dropped sits exactly
    # on ReLU's kink, where the finite differences see a one-sided slope.
    for key in model.params:
        if key.endswith(".b"):
            model.params[key] = 0.1 * rng.standard_normal(model.params[key].shape)
    # Pixel-sized inputs, which the tiny config's input_scale brings back to unit scale.
    images = rng.standard_normal((2, 3, 12, 16)) / model.config.input_scale
    rois = np.array([[0, 0, 0, 15, 11], [0, 2, 3, 9, 8], [1, -2, 4, 7, 14], [1, 5, 1, 12, 6],
                     [1, 3, 3, 3, 3]], dtype=np.float64)
    labels = np.array([1, 2, 0, 1, 0])
    bbox_targets = rng.standard_normal((5, 12))
    bbox_weights = np.zeros((5, 12))
    for row, u in enumerate(labels):
        bbox_weights[row, 4 * u:4 * u + 4] = u >= 1
    return gradcheck_network(model, images, rois, labels, bbox_targets, bbox_weights, rng=rng)


@dataclass
class LayerCase:
    """One row of the gradient-check suite: a layer on concrete shapes."""

    layer: str
    shapes: str
    run: callable          # run(rng) -> GradcheckResult


def suite_cases(rng, backend="numpy"):
    """The cases `minifrcnn gradcheck` runs: every layer of `backend` (its accelerated twins run
    in float64 too), shapes drawn from rng."""
    ops = get_backend(backend)
    def draw(lo, hi):
        return int(rng.integers(lo, hi + 1))

    n, c, f = draw(1, 2), draw(1, 3), draw(2, 4)
    height, width = draw(6, 9), draw(6, 9)
    r, k = draw(3, 6), draw(2, 4)
    x_shape = (n, c, height, width)
    # RoIs: one inside, one crossing the border, one malformed (end before start), one whole map.
    rois = np.array([[0, 1, 1, 5, 4], [n - 1, -3, 2, width + 4, height - 2], [0, 6, 5, 2, 1],
                     [n - 1, 0, 0, width - 1, height - 1]], dtype=np.float64)
    # The same RoIs in pixels of an image twice as large, each coordinate landing on .5 at scale 1/2.
    rois_half = rois * [1, 2, 2, 2, 2] + [0, 1, 1, 1, 1]
    labels = rng.integers(0, k + 1, size=r)
    labels[0] = 1                               # at least one foreground RoI
    bbox_weights = np.zeros((r, 4 * (k + 1)))
    for row, u in enumerate(labels):
        bbox_weights[row, 4 * u:4 * u + 4] = u >= 1

    def conv(stride, pad, kh, kw):
        return lambda rng: gradcheck(
            lambda x, w, b: ops.conv2d_forward(x, w, b, stride=stride, pad=pad),
            ops.conv2d_backward,
            {"x": rng.standard_normal(x_shape), "w": rng.standard_normal((f, c, kh, kw)),
             "b": rng.standard_normal(f)}, rng=rng)

    def maxpool(size, stride):
        return lambda rng: gradcheck(
            lambda x: ops.maxpool2d_forward(x, size, stride), ops.maxpool2d_backward,
            {"x": tie_free(x_shape, rng)}, rng=rng)

    def roi_pool(output_size, spatial_scale, rois):
        return lambda rng: gradcheck(
            lambda features: ops.roi_pool_forward(features, rois, output_size, spatial_scale),
            ops.roi_pool_backward, {"features": tie_free(x_shape, rng)}, rng=rng)

    shape = f"({n},{c},{height},{width})"
    return [
        LayerCase("conv2d", f"x {shape} w ({f},{c},3,3) stride 1 pad 1", conv(1, 1, 3, 3)),
        LayerCase("conv2d", f"x {shape} w ({f},{c},3,2) stride 2 pad 2", conv(2, 2, 3, 2)),
        LayerCase("relu", f"x {shape}", lambda rng: gradcheck(
            ops.relu_forward, ops.relu_backward, {"x": tie_free(x_shape, rng)}, rng=rng)),
        LayerCase("maxpool2d", f"x {shape} size 2 stride 2", maxpool(2, 2)),
        LayerCase("maxpool2d", f"x {shape} size 3 stride 2 (overlapping)", maxpool(3, 2)),
        LayerCase("linear", f"x {shape} w ({f},{c * height * width})", lambda rng: gradcheck(
            ops.linear_forward, ops.linear_backward,
            {"x": rng.standard_normal(x_shape), "w": rng.standard_normal((f, c * height * width)),
             "b": rng.standard_normal(f)}, rng=rng)),
        LayerCase("dropout", f"x ({r},{8 * f}) p 0.5 train", lambda rng: gradcheck(
            # a fresh generator with the same seed on every call: the same units are dropped
            lambda x: ops.dropout_forward(x, 0.5, True, np.random.default_rng(7)),
            ops.dropout_backward,
            {"x": rng.standard_normal((r, 8 * f))}, rng=rng)),
        LayerCase("roi_pool", f"features {shape} rois (4,5) 2x2 scale 1",
                  roi_pool((2, 2), 1.0, rois)),
        LayerCase("roi_pool", f"features {shape} rois (4,5) 3x3 scale 1/2",
                  roi_pool((3, 3), 0.5, rois_half)),
        LayerCase("softmax_cross_entropy", f"scores ({r},{k + 1})", lambda rng: gradcheck_loss(
            ops.softmax_cross_entropy,
            {"scores": rng.standard_normal((r, k + 1)), "labels": labels},
            ["scores"], rng=rng)),
        LayerCase("smooth_l1_loss", f"pred ({r},{4 * (k + 1)}) sigma 3", lambda rng: gradcheck_loss(
            lambda pred: ops.smooth_l1_loss(pred, np.zeros_like(pred), bbox_weights + 0.5,
                                        bbox_weights + 1, sigma=3.0),
            # values spread over both zones of smooth L1, none near its kink at |d| = 1/9
            {"pred": tie_free((r, 4 * (k + 1)), rng, spacing=0.037)}, ["pred"], rng=rng)),
        LayerCase("multitask_loss", f"cls_score ({r},{k + 1}) bbox_pred ({r},{4 * (k + 1)})",
                  lambda rng: gradcheck_loss(
                      lambda cls_score, bbox_pred: ops.multitask_loss(
                          cls_score, bbox_pred, labels, np.zeros_like(bbox_pred), bbox_weights),
                      {"cls_score": rng.standard_normal((r, k + 1)),
                       "bbox_pred": tie_free((r, 4 * (k + 1)), rng, spacing=0.25)},
                      ["cls_score", "bbox_pred"], rng=rng)),
        LayerCase("fast_rcnn", "tiny network, 2 images (12x16), 5 rois, every parameter",
                  lambda rng: network_case(rng, backend)),
        # Truncated SVD (paper section 3.1): one linear layer as two, the first without a bias.
        LayerCase("linear_svd", f"x {shape} w_first ({k},{c * height * width}) w_second ({f},{k})",
                  lambda rng: gradcheck(
                      ops.factored_linear_forward, ops.factored_linear_backward,
                      {"x": rng.standard_normal(x_shape),
                       "w_first": rng.standard_normal((k, c * height * width)),
                       "w_second": rng.standard_normal((f, k)), "b": rng.standard_normal(f)},
                      rng=rng)),
        LayerCase("fast_rcnn_svd", "the same network, fc6 at rank 4 and fc7 at rank 3",
                  lambda rng: network_case(rng, backend, ranks={"fc6": 4, "fc7": 3})),
    ]



def run_suite(seed=0, tol=DEFAULT_TOL, layers=None, backend="numpy"):
    """Run every case of the suite on `backend`; returns a list of (LayerCase, GradcheckResult).

    The shapes come from np.random.default_rng(seed). Each row then draws its values from a
    generator of its own, seeded with (seed, the row's place in the whole suite): a row gives
    the same numbers whether it runs alone (`layers=["roi_pool"]`) or after all the others.
    """
    cases = suite_cases(np.random.default_rng(seed), backend)
    results = []
    for row, case in enumerate(cases):
        if layers is not None and case.layer not in layers:
            continue
        result = case.run(np.random.default_rng([seed, row]))
        result.tol = tol
        results.append((case, result))
    return results
