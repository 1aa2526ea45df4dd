"""Truncated SVD of fully connected layers (paper section 3.1).

At test time a detector runs fc6 and fc7 once per RoI: with 2000 RoIs, nearly half of VGG16's
forward pass. A layer y = W x + b with W of shape (u, v) costs u v multiply-adds per RoI.
Factor W by its singular value decomposition, W = U S V^T, and keep only the t largest singular
values:

    W  ~  U_t S_t V_t^T  =  w_second @ w_first,    w_first = S_t V_t^T  (t, v),  w_second = U_t (u, t)

The one layer becomes two, with no nonlinearity between them: first x -> w_first x (no bias),
then -> w_second (w_first x) + b (the original bias). They cost t (u + v) multiply-adds instead
of u v: VGG16's fc6 (4096 x 25088) at t = 1024 keeps 29 % of them, fc7 (4096 x 4096) at t = 256
keeps 12.5 %.

No other rank-t matrix is closer to W (Eckart-Young): the error of the truncation, in Frobenius
norm, is the root of the sum of the dropped squared singular values,
||W - U_t S_t V_t^T||_F = sqrt(s_{t+1}^2 + ... + s_min^2).

`truncated_svd` is the factorisation; `compress` applies it to a FastRCNN's layers and returns a
model whose forward, backward, detection and model file all use the factors.
"""

import statistics
import time
from dataclasses import dataclass

import numpy as np
import scipy.linalg

from .model import LINEAR_LAYERS, FastRCNN, linear_layers


def _check_matrix(w):
    if not isinstance(w, np.ndarray) or w.ndim != 2 or w.size == 0:
        got = w.shape if isinstance(w, np.ndarray) else type(w).__name__
        raise ValueError(f"w must be a non-empty 2-d array (out, in), got {got}")
    if w.dtype not in (np.float32, np.float64):
        raise ValueError(f"w must be float32 or float64, got {w.dtype}")


def _check_rank(rank, shape, name="w"):
    if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)):
        raise ValueError(f"the rank of {name} must be an integer, got {rank!r}")
    if not 1 <= rank <= min(shape):
        raise ValueError(f"the rank of {name} must be between 1 and min(out, in) = {min(shape)} "
                         f"for a {shape[0]} x {shape[1]} weight, got {rank}")


def singular_values(w):
    """All singular values of w (out, in), largest first (LAPACK's gesdd in w's dtype), as
    float64."""
    _check_matrix(w)
    return scipy.linalg.svdvals(w, check_finite=False).astype(np.float64)


def truncated_svd(w, rank):
    """w (out, in) -> (w_first (rank, in), w_second (out, rank)) with w ~ w_second @ w_first.

    w_first = S_t V_t^T carries the singular values and gets no bias; w_second = U_t is
    orthonormal and takes the original layer's bias. Both in w's dtype. The factors are those of
    LAPACK's divide-and-conquer SVD (scipy.linalg.svd, gesdd) in w's own dtype. Of the solvers
    benchmarks/bench_svd_solvers.py measured on VGG16's fc6 (4096 x 25088, rank 1024), the
    fastest within 1 % of the optimum was svds' LOBPCG, 4 % ahead, and only because at that rank
    it falls back on a dense eigensolver; float32 is as accurate here as float64 and at least
    1.7x faster (benchmarks/results/svd_solvers.md).

    Raises ValueError for a rank below 1 or above min(out, in), naming both.
    """
    _check_matrix(w)
    _check_rank(rank, w.shape)
    u, s, vt = scipy.linalg.svd(w, full_matrices=False, lapack_driver="gesdd", check_finite=False)
    return s[:rank, None] * vt[:rank], np.ascontiguousarray(u[:, :rank])


def rank_for_energy(s, energy):
    """The smallest rank t whose top singular values keep at least `energy` (0 < energy <= 1) of
    the sum of squared singular values s (largest first): sum(s[:t]^2) >= energy sum(s^2)."""
    if not 0 < energy <= 1:
        raise ValueError(f"energy must be in (0, 1], got {energy}")
    kept = np.cumsum(np.asarray(s, np.float64) ** 2)
    # A hair of tolerance: energy 1.0 must give the full rank despite rounding in the sums.
    return int(np.searchsorted(kept, energy * kept[-1] * (1 - 1e-12)) + 1)


def relative_error(w, w_first, w_second):
    """||w - w_second @ w_first||_F / ||w||_F, in float64."""
    w = w.astype(np.float64)
    return float(np.linalg.norm(w - w_second.astype(np.float64) @ w_first.astype(np.float64))
                 / np.linalg.norm(w))


def choose_ranks(model, ranks=None, energy=None):
    """{layer: rank} for compress: `ranks` as given ({"fc6": 1024, "fc7": 256}), or, with
    `energy`, for each of fc6 and fc7 the smallest rank keeping that fraction of the squared
    singular values. Raises ValueError for an unknown or already factored layer, or a bad rank."""
    if (ranks is None) == (energy is None):
        raise ValueError("give exactly one of ranks and energy")
    if energy is not None:
        left = [name for name in ("fc6", "fc7") if name not in model.config.ranks]
        if not left:
            raise ValueError("fc6 and fc7 are already compressed; compress the original model "
                             "instead")
        return {name: rank_for_energy(singular_values(model.params[f"{name}.w"]), energy)
                for name in left}
    layers = linear_layers(model.config, model.num_classes)
    for name, rank in ranks.items():
        if name in model.config.ranks:
            raise ValueError(f"{name} is already compressed (rank {model.config.ranks[name]}); "
                             "compress the original model instead")
        if name not in LINEAR_LAYERS:
            raise ValueError(f"cannot compress {name!r}: the linear layers are "
                             f"{', '.join(LINEAR_LAYERS)}")
        _check_rank(rank, layers[name], name)
    return dict(ranks)


def compress(model, ranks=None, energy=None):
    """A compressed copy of FastRCNN `model`: each layer named in `ranks` ({"fc6": 1024, "fc7":
    256}) replaced by its truncated SVD, two linear layers with no ReLU between them. Or, with
    `energy` (e.g. 0.95), fc6 and fc7 each at the smallest rank that keeps that fraction of its
    squared singular values. The copy's config records the ranks (config.ranks), so its model file
    stores the factors and loads back as they are. `model` itself is left unchanged.

    Raises ValueError for a layer that is not a linear layer, is already compressed, or a rank
    outside 1 .. min(out, in).
    """
    ranks = choose_ranks(model, ranks, energy)
    config = model.config.with_ranks({**model.config.ranks, **ranks})
    compressed = FastRCNN(config, model.classes, backend=model.backend.name, dtype=model.dtype)
    params = {key: value.copy() for key, value in model.params.items()
              if key.rsplit(".", 1)[0] not in ranks}
    for name, rank in ranks.items():
        w_first, w_second = truncated_svd(model.params[f"{name}.w"], rank)
        params[f"{name}_first.w"] = w_first
        params[f"{name}_second.w"] = w_second
        params[f"{name}_second.b"] = model.params[f"{name}.b"].copy()
    compressed.set_params(params)
    compressed.frozen = set(model.frozen)
    return compressed


@dataclass
class LayerReport:
    """What compressing one linear layer (out, in) to `rank` changed."""

    layer: str
    shape: tuple                 # (out, in) of the layer as trained
    rank: int
    params_before: int           # out * in + out (weights and bias)
    params_after: int            # rank * in + out * rank + out
    macs_before: int             # multiply-adds per RoI: out * in
    macs_after: int              # rank * (in + out)
    relative_error: float        # ||W - w_second @ w_first||_F / ||W||_F


def compression_report(model, compressed):
    """[LayerReport] of every layer factored in `compressed` but not in `model` (its original)."""
    reports = []
    shapes = linear_layers(model.config, model.num_classes)
    for name, rank in compressed.config.ranks.items():
        if name in model.config.ranks:
            continue
        out, inputs = shapes[name]
        reports.append(LayerReport(
            layer=name, shape=(out, inputs), rank=rank,
            params_before=out * inputs + out, params_after=rank * inputs + out * rank + out,
            macs_before=out * inputs, macs_after=rank * (inputs + out),
            relative_error=relative_error(model.params[f"{name}.w"],
                                          compressed.params[f"{name}_first.w"],
                                          compressed.params[f"{name}_second.w"])))
    return reports


def forward_seconds(model, image, proposals, repeats=3):
    """Median wall time of the test-time forward pass (no NMS) of one image (H, W, 3) uint8 with
    its proposals (P, 4), at the model's scale; one untimed run first (caches, compilation)."""
    from .detect import forward_image

    scales = (model.config.scale,)
    forward_image(model, image, proposals, scales)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        forward_image(model, image, proposals, scales)
        times.append(time.perf_counter() - start)
    return statistics.median(times)
