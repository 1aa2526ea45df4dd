"""The exercise notebooks of lessons/exercises/, all built from this one file.

    python lessons/exercises/build.py                   # the student notebooks, next to this file
    python lessons/exercises/build.py --out DIR         # the same notebooks, into DIR
    python lessons/exercises/build.py --solutions DIR   # the instructor copies, into DIR

Every exercise is written once, below: what to build (markdown), a working solution (code), a
"predict, then run" question with its answer, and the name the checker knows it by. The student's
skeleton is derived from the solution: each function the student must write keeps its signature
and docstring and gets `raise NotImplementedError` as its body; helper functions are left out. So
the solutions live only here, and an instructor copy differs from the student notebook in the
skeleton cells alone.

Each exercise becomes six cells, tagged for tools and tests: the task (markdown), the skeleton
("skeleton"), the question (markdown), the cell that computes its answer with the student's
functions ("predict"), the answer folded in a <details> block (markdown), and the checker's cell
("check"). The notebooks are written without outputs, with fixed cell ids, so a rebuild gives the
same bytes and tests/test_exercise_notebooks.py can compare them with the committed files.

`minifrcnn check NOTEBOOK.ipynb` keeps only a notebook's top-level imports, defs, classes and
assignments of literal constants, so every solution is a set of self-contained functions (helpers
as other top-level defs), with its imports at the top of its cell.
"""

import argparse
import ast
from dataclasses import dataclass
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Exercise:
    name: str              # the checker's name: check(name, *functions)
    functions: tuple       # the functions check() receives, in its order
    task: str              # markdown: what to build, shapes, the rule, the cache, the dtype
    solution: str          # code: the functions, with docstrings, and any helpers
    question: str          # markdown: predict a number first
    run: str               # code: computes it with the student's functions
    answer: str            # markdown, shown folded
    expected: tuple = ()   # strings the run cell prints when the functions are right (tests)


@dataclass(frozen=True)
class Notebook:
    filename: str
    title: str
    lesson: str            # what it follows: markdown, with links relative to lessons/exercises
    about: str             # one paragraph: what these exercises build
    exercises: tuple


# --- 01_layers ------------------------------------------------------------------------------

NUMERICAL_GRADIENT = Exercise(
    name="numerical_gradient",
    functions=("numerical_gradient",),
    task=r"""## 1. The numerical gradient (`numerical_gradient`)

Every backward pass in this notebook can be checked against its forward pass alone. For a
function `f` that returns a scalar, the **central difference**

$$\frac{\partial f}{\partial x_i} \approx \frac{f(x + h e_i) - f(x - h e_i)}{2h}$$

estimates one partial derivative from two calls of `f`, with an error of order `h**2` (a one-sided
difference has an error of order `h`). Lesson 1, section 6 computes one coordinate by hand; here
you write the function that does every coordinate.

Write `numerical_gradient(f, x, h)`:
- `f`: a function of an array shaped like `x`, returning a scalar; `x`: a float64 array of **any
  shape** (`np.ndindex(x.shape)` visits every index of an n-dimensional array); `h`: the step.
- Returns a float64 array of `x`'s shape whose element `i` is the central difference above.
- `x` must come back **unchanged**. Change one coordinate in place, call `f` twice, then put the
  saved original value back: `x[i] += h` followed by `x[i] -= h` can leave it one rounding error
  away from where it was.

There is no cache here, and the loop over coordinates is the one loop you cannot vectorise: `f`
must see one changed coordinate at a time, so it costs `2 * x.size` calls of `f`.""",
    solution='''import numpy as np


def numerical_gradient(f, x, h):
    """The gradient of a scalar function f at x, by central differences.

    f: a function of an array shaped like x, returning a scalar; x: float64 array, any shape;
    h: the step. Returns grad: float64, x's shape, with
        grad[i] = (f(x + h e_i) - f(x - h e_i)) / (2 h).
    x is left exactly as it was.
    """
    grad = np.zeros(x.shape, dtype=np.float64)
    for index in np.ndindex(x.shape):
        saved = x[index]
        x[index] = saved + h
        plus = f(x)
        x[index] = saved - h
        minus = f(x)
        # The saved value, not saved + h - h: that sum can differ from saved in the last bit.
        x[index] = saved
        grad[index] = (plus - minus) / (2 * h)
    return grad''',
    question=r"""
**Predict, then run.** `f(x) = sum(x**3)` has the gradient `3 x**2`, so at `x = [1, 2]` the
exact answer is `[3, 12]`. What does `numerical_gradient` return there with the large step
`h = 0.1`? Write your two numbers down before you run the cell.""",
    run='''x = np.array([1.0, 2.0])
grad = numerical_gradient(lambda v: np.sum(v ** 3), x, 0.1)
print("numerical gradient:", np.round(grad, 6), "  x afterwards:", x)''',
    answer=r"""`[3.01, 12.01]`. For a cube the central difference is exact up to one term:
`((x + h)**3 - (x - h)**3) / (2h) = 3 x**2 + h**2`, so both coordinates are off by `h**2 = 0.01`.
A forward difference, `((x + h)**3 - x**3) / h = 3 x**2 + 3 x h + h**2`, would be off by 0.61 at
`x = 2`. And `x` is still `[1, 2]`.""",
    expected=("[ 3.01 12.01]", "x afterwards: [1. 2.]"),
)

RELU = Exercise(
    name="relu",
    functions=("relu_forward", "relu_backward"),
    task=r"""## 2. ReLU (`relu_forward`, `relu_backward`)

`out = max(x, 0)`, element by element, for `x` of any shape. Its derivative is 1 where `x > 0`
and 0 where `x < 0`; at `x = 0` exactly (and at `-0.0`) ReLU has a kink and no derivative, and we
take the **subgradient 0** there, as minifrcnn's reference does. So the backward pass is

$$dx = \begin{cases} dout & x > 0 \\ 0 & \text{otherwise.} \end{cases}$$

- `relu_forward(x)` -> `(out, cache)`: `out` has `x`'s shape and dtype.
- `relu_backward(dout, cache)` -> `dx`, `x`'s shape, in `x`'s dtype.
- The cache is yours to choose: whatever your backward pass needs (`x` itself, or the mask
  `x > 0`). The checker hands your forward's cache to your backward and never looks inside.
- float32 in, float32 out: `np.maximum(x, 0)` keeps the dtype; make sure `dx` does too.""",
    solution='''import numpy as np


def relu_forward(x):
    """x: any shape, float32 or float64. Returns out = max(x, 0) (x's shape and dtype), cache."""
    return np.maximum(x, 0), x


def relu_backward(dout, cache):
    """dout: x's shape. Returns dx (x's shape and dtype): dout where x > 0, else 0 (the
    subgradient 0 at x == 0)."""
    x = cache
    return np.where(x > 0, dout, 0).astype(x.dtype, copy=False)''',
    question=r"""
**Predict, then run.** `x = [-1.5, -0.0, 0.0, 2.0]` and `dout = [10, 20, 30, 40]`. What is `dx`?""",
    run='''x = np.array([-1.5, -0.0, 0.0, 2.0])
out, cache = relu_forward(x)
dx = relu_backward(np.array([10.0, 20.0, 30.0, 40.0]), cache)
print("out =", out, "  dx =", dx)''',
    answer=r"""
`dx = [0, 0, 0, 40]`. Only the one unit with `x > 0` passes its gradient on; `0.0` and
`-0.0` get the subgradient 0. (A backward written as `dout * (x >= 0)` would give 20 and 30 for
them, and the checker's cases with exact zeros would catch it.)""",
    expected=("dx = [ 0.  0.  0. 40.]",),
)

LINEAR = Exercise(
    name="linear",
    functions=("linear_forward", "linear_backward"),
    task=r"""## 3. A fully connected layer (`linear_forward`, `linear_backward`)

fc6 and fc7 of Fast R-CNN are fully connected: every output is a weighted sum of every input.
Weights are stored `(out, in)`, as Caffe and PyTorch store them (lesson 8 factorises them this
way round). An input of more than two dimensions, such as RoI-pooled features `(R, C, PH, PW)`, is
first flattened to `(N, D)`, `D = d1 * d2 * ...`:

$$out = x_{flat} W^T + b, \qquad dx = dout\, W \ (\text{back to } x\text{'s shape}),
\qquad dW = dout^T x_{flat}, \qquad db = \textstyle\sum_n dout_n .$$

- `linear_forward(x, w, b)` -> `(out, cache)`: `x` `(N, D)` or `(N, d1, d2, ...)`, `w` `(M, D)`,
  `b` `(M,)`; `out` `(N, M)`.
- `linear_backward(dout, cache)` -> `(dx, dw, db)`: `dout` `(N, M)`; `dx` has the shape of `x`
  (not flattened), `dw` `(M, D)`, `db` `(M,)`.
- The cache is yours: `x` and `w` are enough.
- float32 in, float32 out. Mind `N = 0`: `x.reshape(0, -1)` cannot work out the `-1`.""",
    solution='''import numpy as np


def linear_forward(x, w, b):
    """x: (N, D) or (N, d1, d2, ...) flattened to (N, D); w: (M, D); b: (M,).
    Returns out: (N, M) = x_flat @ w.T + b, and a cache."""
    x_flat = x.reshape(x.shape[0], int(np.prod(x.shape[1:])))
    return x_flat @ w.T + b, (x, w)


def linear_backward(dout, cache):
    """dout: (N, M). Returns dx (the shape of x), dw: (M, D), db: (M,), in x's dtype."""
    x, w = cache
    dout = dout.astype(x.dtype, copy=False)
    x_flat = x.reshape(x.shape[0], int(np.prod(x.shape[1:])))
    dx = (dout @ w).reshape(x.shape)
    dw = dout.T @ x_flat
    db = dout.sum(axis=0)
    return dx, dw, db''',
    question=r"""
**Predict, then run.** A batch `x` of shape `(2, 3, 4, 4)` enters a layer with 10 outputs.
What shape must `w` have, and what shapes do `out`, `dx`, `dw` and `db` come back in?""",
    run='''rng = np.random.default_rng(0)
x = rng.standard_normal((2, 3, 4, 4))
w = rng.standard_normal((10, 3 * 4 * 4))
out, cache = linear_forward(x, w, np.zeros(10))
dx, dw, db = linear_backward(np.ones(out.shape), cache)
print("w", w.shape, " out", out.shape, " dx", dx.shape, " dw", dw.shape, " db", db.shape)''',
    answer=r"""`w (10, 48)`: each row holds one weight per input number, `D = 3 * 4 * 4 = 48`. Then
`out (2, 10)`, `dx (2, 3, 4, 4)` (the shape `x` came in, so the layer below can take it),
`dw (10, 48)` like `w`, and `db (10,)`.""",
    expected=("w (10, 48)  out (2, 10)  dx (2, 3, 4, 4)  dw (10, 48)  db (10,)",),
)

CONV2D = Exercise(
    name="conv2d",
    functions=("conv2d_forward", "conv2d_backward"),
    task=r"""## 4. Convolution (`conv2d_forward`, `conv2d_backward`)

`F` filters slide over a batch of images padded with `pad` zeros on every side, `stride` cells at a
time. As in Caffe and PyTorch this is a cross-correlation (the filter is not flipped):

$$out[n, f, i, j] = b[f] +
\sum_{c, a, a'} w[f, c, a, a']\; x_{pad}[n, c,\ i \cdot stride + a,\ j \cdot stride + a']$$

with `H' = 1 + (H + 2 pad - KH) // stride` and `W' = 1 + (W + 2 pad - KW) // stride` (lesson 1's
`W2 = (W1 - F + 2P) / S + 1`, rounded down). The backward pass:
- `db[f]`: the sum of `dout[:, f]`;
- `dw[f, c, a, a']`: the sum over `n, i, j` of `dout[n, f, i, j]` times the input cell that weight
  multiplied;
- `dx`: every input cell collects `dout * w` from **every** window it was part of (windows
  overlap, so these are sums), computed on the padded input and then cut back to `(H, W)`.

Shapes:
- `conv2d_forward(x, w, b, stride, pad)` -> `(out, cache)`: `x` `(N, C, H, W)`,
  `w` `(F, C, KH, KW)`, `b` `(F,)`; `out` `(N, F, H', W')`.
- `conv2d_backward(dout, cache)` -> `(dx, dw, db)`: `dout` `(N, F, H', W')`; `dx` `(N, C, H, W)`,
  `dw` `(F, C, KH, KW)`, `db` `(F,)`.

Vectorise: either im2col (lesson 1, section 2), or loop over the `KH * KW` kernel offsets only: for
a fixed offset `(a, a')`, the input cells it meets at every output position form one strided
slice, `x_pad[:, :, a : a + stride * H' : stride, a' : a' + stride * W' : stride]`. The cache is
yours; keep `x` rather than an im2col matrix, which is `KH * KW` times larger. float32 in, float32
out.""",
    solution='''import numpy as np


def conv2d_forward(x, w, b, stride, pad):
    """x: (N, C, H, W), w: (F, C, KH, KW), b: (F,), zero padding `pad` on every side.
    Returns out: (N, F, H', W') with H' = 1 + (H + 2 pad - KH) // stride (W' likewise), in x's
    dtype, and a cache."""
    n, _, height, width = x.shape
    f, _, kh, kw = w.shape
    out_h = 1 + (height + 2 * pad - kh) // stride
    out_w = 1 + (width + 2 * pad - kw) // stride
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((n, f, out_h, out_w), dtype=x.dtype)
    # One term per kernel offset (a, c): the cells under w[:, :, a, c] at all output positions
    # are one strided slice of x_pad, so the loop runs KH * KW times and never over pixels.
    for a in range(kh):
        for c in range(kw):
            cells = x_pad[:, :, a:a + stride * out_h:stride, c:c + stride * out_w:stride]
            out += np.einsum("nkhw,fk->nfhw", cells, w[:, :, a, c])
    out += b[None, :, None, None]
    return out, (x, w, stride, pad)


def conv2d_backward(dout, cache):
    """dout: (N, F, H', W'). Returns dx: (N, C, H, W), dw: (F, C, KH, KW), db: (F,)."""
    x, w, stride, pad = cache
    dout = dout.astype(x.dtype, copy=False)
    height, width = x.shape[2:]
    kh, kw = w.shape[2:]
    out_h, out_w = dout.shape[2:]
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dx_pad = np.zeros_like(x_pad)
    dw = np.zeros_like(w)
    for a in range(kh):
        for c in range(kw):
            rows = slice(a, a + stride * out_h, stride)
            cols = slice(c, c + stride * out_w, stride)
            dw[:, :, a, c] = np.einsum("nfhw,nkhw->fk", dout, x_pad[:, :, rows, cols])
            # Within one offset's slice no cell repeats, so += is exact; a cell under several
            # windows collects their gradients over several offsets.
            dx_pad[:, :, rows, cols] += np.einsum("nfhw,fk->nkhw", dout, w[:, :, a, c])
    db = dout.sum(axis=(0, 2, 3))
    dx = dx_pad[:, :, pad:pad + height, pad:pad + width]
    return np.ascontiguousarray(dx), dw, db''',
    question=r"""
**Predict, then run.** A batch `x` of shape `(1, 3, 32, 32)` goes through 8 filters of
size 5x5 with stride 2 and padding 1. What is the shape of `out`?""",
    run='''rng = np.random.default_rng(0)
x = rng.standard_normal((1, 3, 32, 32))
w = rng.standard_normal((8, 3, 5, 5))
out, cache = conv2d_forward(x, w, np.zeros(8), 2, 1)
dx, dw, db = conv2d_backward(np.ones(out.shape), cache)
print("out", out.shape, " dx", dx.shape, " dw", dw.shape, " db", db.shape)''',
    answer=r"""
`(1, 8, 15, 15)`: `H' = 1 + (32 + 2 * 1 - 5) // 2 = 1 + 29 // 2 = 15`. The division is not exact
(14.5): the last padded column is never under a filter, and the layer rounds down. The depth is
the number of filters, 8.""",
    expected=("out (1, 8, 15, 15)",),
)

MAXPOOL2D = Exercise(
    name="maxpool2d",
    functions=("maxpool2d_forward", "maxpool2d_backward"),
    task=r"""## 5. Max pooling (`maxpool2d_forward`, `maxpool2d_backward`)

Each `size x size` window, moved `stride` cells at a time (no padding), keeps its largest value:

$$out[n, c, i, j] = \max_{0 \le a, a' < size} x[n, c,\ i \cdot stride + a,\ j \cdot stride + a'],
\qquad H' = 1 + (H - size) // stride .$$

- **Ties**: when several cells of a window hold the maximum, the **first one in row-major order**
  wins (what `np.argmax` returns on the flattened window).
- **Backward**: each output's gradient goes to the one cell that won its window; every other cell
  gets 0. Windows **overlap** when `stride < size` (AlexNet's 3x3 windows with stride 2), and a
  cell that wins several windows receives the **sum** of their gradients. Assigning instead of
  adding is the classic bug that tests on tiling windows never see (lesson 1, section 7).

Shapes:
- `maxpool2d_forward(x, size, stride)` -> `(out, cache)`: `x` `(N, C, H, W)`,
  `out` `(N, C, H', W')`.
- `maxpool2d_backward(dout, cache)` -> `dx`: `dout` `(N, C, H', W')`, `dx` `(N, C, H, W)`.

The cache is yours: which cell of its window won, for every output, is what the backward pass
needs (and `x`'s shape and dtype). Vectorise over `N, C, H', W'`: a loop over the `size * size`
offsets inside a window is fine. float32 in, float32 out.""",
    solution='''import numpy as np


def maxpool2d_forward(x, size, stride):
    """x: (N, C, H, W). Returns out: (N, C, H', W'), H' = 1 + (H - size) // stride (W' likewise),
    and a cache. Ties go to the first cell of the window in row-major order."""
    out_h = 1 + (x.shape[2] - size) // stride
    out_w = 1 + (x.shape[3] - size) // stride
    out = None
    winner = np.zeros((x.shape[0], x.shape[1], out_h, out_w), dtype=np.int64)
    # Visit the offsets in row-major order and take a cell only when it is strictly larger:
    # on a tie the earlier cell keeps the win.
    for k in range(size * size):
        a, c = divmod(k, size)
        cells = x[:, :, a:a + stride * out_h:stride, c:c + stride * out_w:stride]
        if out is None:
            out = cells.copy()
            continue
        larger = cells > out
        out = np.where(larger, cells, out)
        winner[larger] = k
    return out, (x.shape, x.dtype, winner, size, stride)


def maxpool2d_backward(dout, cache):
    """dout: (N, C, H', W'). Returns dx: (N, C, H, W): each output's gradient at the cell that won
    its window, summed where a cell won several windows."""
    x_shape, dtype, winner, size, stride = cache
    dout = dout.astype(dtype, copy=False)
    out_h, out_w = winner.shape[2:]
    dx = np.zeros(x_shape, dtype=dtype)
    for k in range(size * size):
        a, c = divmod(k, size)
        won = np.where(winner == k, dout, 0)
        # The windows whose winner sits at offset k cover distinct cells of this slice, so +=
        # is exact; a cell won by several windows is reached from several offsets and summed.
        dx[:, :, a:a + stride * out_h:stride, c:c + stride * out_w:stride] += won
    return dx''',
    question=r"""**Predict, then run.** The 5x7 input below is pooled with 3x3 windows and stride 2
(2 x 3 = 6 windows, overlapping by one row or column). With `dout` all ones, how many of its 35
cells receive a gradient, and how much does the 9 receive?

```
1 0 2 1 0 3 1
0 3 1 2 1 0 2
2 1 9 0 8 1 0
1 2 0 3 1 2 1
0 1 2 1 0 1 3
```""",
    run='''x = np.array([
    [1, 0, 2, 1, 0, 3, 1],
    [0, 3, 1, 2, 1, 0, 2],
    [2, 1, 9, 0, 8, 1, 0],
    [1, 2, 0, 3, 1, 2, 1],
    [0, 1, 2, 1, 0, 1, 3],
], dtype=np.float64)[None, None]
out, cache = maxpool2d_forward(x, 3, 2)
dx = maxpool2d_backward(np.ones(out.shape), cache)
print("out =", out[0, 0].tolist())
print("cells with a gradient:", np.count_nonzero(dx), "  the 9 receives", dx[0, 0, 2, 2])''',
    answer=r"""
**2 cells**: the 9 at row 2, column 2 sits on the row and the column that windows share, and
wins four of the six windows, so it receives **4**; the 8 at row 2, column 4 wins the other two and
receives 2. Every other cell gets nothing, and the total, 6, is one per window.""",
    expected=("cells with a gradient: 2   the 9 receives 4.0",),
)

# --- 02_roi_pool ----------------------------------------------------------------------------

ROI_POOL = Exercise(
    name="roi_pool",
    functions=("roi_pool_forward", "roi_pool_backward"),
    task=r"""## RoI pooling (`roi_pool_forward`, `roi_pool_backward`)

Each region of interest, given in image pixels, is projected onto the feature map, cut into a
`PH x PW` grid of bins and max-pooled per bin and channel (paper section 2.1). The exact rule is
Caffe's and torchvision's; `minifrcnn/layers/roi_pool.py` states it, and the checker holds you to
it. For a RoI `(batch_index, x1, y1, x2, y2)`:

1. **Project** with C's `round`, which rounds halves **away from zero** (2.5 -> 3, 0.5 -> 1):
   `xs = round(x1 * spatial_scale)`, `ys = round(y1 * spatial_scale)`, `xe = round(x2 *
   spatial_scale)`, `ye = round(y2 * spatial_scale)`. `np.round` is **not** that function: it
   rounds halves to even (2.5 -> 2, 0.5 -> 0). Nor is `np.floor(abs(v) + 0.5)` safe: in float32,
   `0.49999997 + 0.5` already rounds up to 1.0 in the addition. `np.trunc` and the exact
   difference `v - np.trunc(v)` are.
2. **Size** at least one cell: `roi_w = max(xe - xs + 1, 1)`, `roi_h = max(ye - ys + 1, 1)`.
3. **Bin size**, a fraction: `bin_w = roi_w / PW`, `bin_h = roi_h / PH`.
4. Bin `(ph, pw)` covers rows `ys + floor(ph * bin_h)` up to (not including)
   `ys + ceil((ph + 1) * bin_h)`, and the columns likewise, both **clipped to the map** `[0, H]`,
   `[0, W]`. Bins may differ in size, overlap by a cell, or be empty once clipped.
5. **Max** over each bin and channel. Ties: the **first cell in row-major order**. An **empty bin
   gives 0**.

**All of this arithmetic runs in the features' dtype**: cast the RoI coordinates and
`spatial_scale` to `features.dtype` before multiplying, and compute `bin_h`, `ph * bin_h` and the
rest in it too. For float32 features some RoI sizes end a bin one cell differently than float64
would (lesson 2, section 5). The checker runs float32 cases as well as float64 ones, but leaves out
those rare RoIs, so bins computed in float64 are not failed for it: this is about matching Caffe
and torchvision to the last cell, not about the grade.

**Backward**: each non-empty bin sends its gradient to the cell that won its max; a cell that won
several bins, or in several RoIs, receives the **sum**. This is how the detection loss reaches the
conv layers.

Shapes:
- `roi_pool_forward(features, rois, output_size, spatial_scale)` -> `(out, cache)`: `features`
  `(N, C, H, W)`; `rois` `(R, 5)`, 0-based inclusive pixels; `output_size` a pair `(PH, PW)`;
  `spatial_scale` feature cells per image pixel (1/16 for VGG16); `out` `(R, C, PH, PW)` in the
  features' dtype.
- `roi_pool_backward(dout, cache)` -> `dfeatures` `(N, C, H, W)`.

The cache is yours; a good one holds, for every `(r, c, ph, pw)`, the flat index `h * W + w` of the
winning cell in its image's plane (-1 for an empty bin), with the batch indices and the features'
shape and dtype. `np.add.at` adds repeated indices one by one, where `a[idx] += v` would keep only
one of them. A Python loop over the RoIs is fine; vectorise what is inside it.""",
    solution='''import numpy as np


def round_half_away(v):
    """C's round(): halves go away from zero (2.5 -> 3, -2.5 -> -3), in v's dtype."""
    whole = np.trunc(v)
    # v - trunc(v) is exact in floating point, so the comparison sees the true fraction.
    return np.where(np.abs(v - whole) >= 0.5, whole + np.sign(v), whole)


def roi_pool_forward(features, rois, output_size, spatial_scale):
    """features: (N, C, H, W); rois: (R, 5) as (batch_index, x1, y1, x2, y2), inclusive pixels;
    output_size: (PH, PW); spatial_scale: feature cells per image pixel.
    Returns out: (R, C, PH, PW) in the features' dtype, and a cache."""
    _, channels, height, width = features.shape
    ph_count, pw_count = output_size
    dtype = features.dtype
    # Projection and bins in the features' dtype, as Caffe computes them.
    coords = rois[:, 1:].astype(dtype) * dtype.type(spatial_scale)
    xs, ys, xe, ye = round_half_away(coords).astype(np.int64).T
    bin_w = np.maximum(xe - xs + 1, 1).astype(dtype) / dtype.type(pw_count)     # (R,)
    bin_h = np.maximum(ye - ys + 1, 1).astype(dtype) / dtype.type(ph_count)

    def edges(start, bin_size, count, limit):
        k = np.arange(count, dtype=dtype)
        lo = np.floor(k * bin_size[:, None]).astype(np.int64) + start[:, None]
        hi = np.ceil((k + 1) * bin_size[:, None]).astype(np.int64) + start[:, None]
        return np.clip(lo, 0, limit), np.clip(hi, 0, limit)                   # (R, count)

    hstart, hend = edges(ys, bin_h, ph_count, height)
    wstart, wend = edges(xs, bin_w, pw_count, width)
    batch = rois[:, 0].astype(np.int64)
    out = np.zeros((len(rois), channels, ph_count, pw_count), dtype=dtype)
    argmax = np.full(out.shape, -1, dtype=np.int64)
    for r in range(len(rois)):
        # Work on the part of the map the RoI's bins cover: a crop of rows y0:y1, columns x0:x1.
        y0, y1 = hstart[r].min(), hend[r].max()
        x0, x1 = wstart[r].min(), wend[r].max()
        if y1 <= y0 or x1 <= x0:
            continue                                    # every bin empty: zeros, argmax -1
        rows = np.arange(y0, y1)
        cols = np.arange(x0, x1)
        in_rows = (rows >= hstart[r, :, None]) & (rows < hend[r, :, None])       # (PH, h)
        in_cols = (cols >= wstart[r, :, None]) & (cols < wend[r, :, None])       # (PW, w)
        in_bin = in_rows[:, None, :, None] & in_cols[None, :, None, :]          # (PH, PW, h, w)
        crop = features[batch[r], :, y0:y1, x0:x1]                              # (C, h, w)
        masked = np.where(in_bin, crop[:, None, None], -np.inf)                 # (C, PH, PW, h, w)
        flat = masked.reshape(channels, ph_count, pw_count, -1)
        best = flat.argmax(axis=-1)     # the first maximum in row-major order of the crop
        found = in_bin.any(axis=(2, 3))                                         # (PH, PW)
        crop_w = x1 - x0
        out[r] = np.where(found, np.take_along_axis(flat, best[..., None], -1)[..., 0], 0)
        argmax[r] = np.where(found, (y0 + best // crop_w) * width + x0 + best % crop_w, -1)
    return out, (features.shape, dtype, batch, argmax)


def roi_pool_backward(dout, cache):
    """dout: (R, C, PH, PW). Returns dfeatures: (N, C, H, W), each bin's gradient added at the
    cell that won it, summed over bins and RoIs."""
    features_shape, dtype, batch, argmax = cache
    dout = dout.astype(dtype, copy=False)
    n, channels, height, width = features_shape
    dfeatures = np.zeros(features_shape, dtype=dtype)
    won = argmax >= 0
    r, c = np.nonzero(won)[:2]
    # np.add.at adds every repeated (image, channel, cell) in turn; a fancy-index += would not.
    np.add.at(dfeatures.reshape(n, channels, height * width),
              (batch[r], c, argmax[won]), dout[won])
    return dfeatures''',
    question=r"""
**Predict, then run.** The seed's example A: an 800x800 image and an 8x8 feature map
(`spatial_scale = 1/100`). The RoI `(0, 50, 150, 749, 649)` is 700 pixels wide and 500 tall; it is
pooled to 2x2 on a map whose cell `(h, w)` holds its own flat index `h * 8 + w`, so each bin's
maximum is its bottom-right cell. Which four numbers come out? (Start with `round(0.5)`.)""",
    run='''features = np.arange(64, dtype=np.float64).reshape(1, 1, 8, 8)
rois = np.array([[0, 50, 150, 749, 649]], dtype=np.float64)
out, cache = roi_pool_forward(features, rois, (2, 2), 1 / 100)
dfeatures = roi_pool_backward(np.ones(out.shape), cache)
print("out =", out[0, 0].tolist())
print("cells with a gradient:", np.flatnonzero(dfeatures).tolist())''',
    answer=r"""
`[[36, 39], [52, 55]]`. The projection is columns `round(0.5) = 1` to `round(7.49) = 7` and rows
`round(1.5) = 2` to `round(6.49) = 6`: 7 columns by 5 rows, as the seed says. The bins are
`bin_w = 3.5` and `bin_h = 2.5`: columns 1-4 and 4-7, rows 2-4 and 4-6, each bin 3x4, neighbours
sharing a column or a row. The bottom-right cells are (4, 4), (4, 7), (6, 4), (6, 7).
With `np.round`, `0.5` would become 0: the region would start at column 0, be 8 wide, and the
first bin would end at column 3, giving 35 instead of 36.""",
    expected=("out = [[36.0, 39.0], [52.0, 55.0]]",),
)

# --- 03_losses ------------------------------------------------------------------------------

SOFTMAX_CROSS_ENTROPY = Exercise(
    name="softmax_cross_entropy",
    functions=("softmax_cross_entropy",),
    task=r"""## 1. The softmax log loss (`softmax_cross_entropy`)

The classification half of the multi-task loss: over `K + 1` classes (class 0 is background),
with `p = softmax(scores)` row by row,

$$L_{cls} = \frac{1}{R} \sum_{r} -\log p_{r, u_r}, \qquad
\frac{\partial L_{cls}}{\partial\, scores} = \frac{p - \mathrm{onehot}(u)}{R} .$$

- `softmax_cross_entropy(scores, labels)` -> `(loss, dscores)`: `scores` `(R, K+1)` raw class
  scores; `labels` `(R,)` integers in `[0, K]`; `loss` a scalar of the scores' dtype (e.g.
  `np.float32(...)`); `dscores` `(R, K+1)`.
- **Stable** for scores like 1000: `np.exp(1000)` is `inf`. Subtract each row's maximum first (it
  leaves the softmax unchanged) and take the loss from the log-softmax,
  `shifted - log(sum(exp(shifted)))`, never from `log(p)`, which can be `log(0)`.
- `R = 0` rows: the loss is 0 and `dscores` is an empty `(0, K+1)` array.
- float32 in, float32 out (the loss too).""",
    solution='''import numpy as np


def softmax_cross_entropy(scores, labels):
    """scores: (R, K+1) raw class scores; labels: (R,) integers in [0, K].
    Returns loss (a scalar of the scores' dtype) = mean over rows of -log softmax(scores)[label],
    and dscores: (R, K+1) = (softmax(scores) - onehot(labels)) / R. No rows give loss 0."""
    rows = scores.shape[0]
    if rows == 0:
        return scores.dtype.type(0), np.zeros_like(scores)
    shifted = scores - scores.max(axis=1, keepdims=True)     # exp() is now at most 1
    exp = np.exp(shifted)
    total = exp.sum(axis=1, keepdims=True)
    log_probs = shifted - np.log(total)
    picked = np.arange(rows), labels
    loss = -log_probs[picked].mean()
    dscores = exp / total
    dscores[picked] -= 1
    return scores.dtype.type(loss), dscores / rows''',
    question=r"""
**Predict, then run.** One RoI with scores `[1000, 1000, 0]` and label 0. What is the loss,
and what is `dscores`?""",
    run='''loss, dscores = softmax_cross_entropy(np.array([[1000.0, 1000.0, 0.0]]), np.array([0]))
print(f"loss = {loss:.4f}   dscores = {dscores.round(4).tolist()}")''',
    answer=r"""
`loss = log 2 = 0.6931` and `dscores = [[-0.5, 0.5, 0]]`: the two large scores split the
probability evenly and the third gets `exp(-1000)`, which is 0 in floating point. The naive
`exp(scores)` gives `inf / inf = nan`.""",
    expected=("loss = 0.6931   dscores = [[-0.5, 0.5, 0.0]]",),
)

SMOOTH_L1_LOSS = Exercise(
    name="smooth_l1_loss",
    functions=("smooth_l1_loss",),
    task=r"""## 2. The smooth L1 loss (`smooth_l1_loss`)

The box-regression half (paper eq. 3), in the general form with `sigma` (Fast R-CNN uses
`sigma = 1`: `0.5 x**2` for `|x| < 1`, else `|x| - 0.5`):

$$\mathrm{smooth}_{L_1}(d) = \begin{cases} 0.5\, \sigma^2 d^2 & |d| < 1/\sigma^2 \\
|d| - 0.5/\sigma^2 & \text{otherwise} \end{cases} \qquad
\mathrm{smooth}_{L_1}'(d) = \begin{cases} \sigma^2 d & |d| < 1/\sigma^2 \\
\mathrm{sign}(d) & \text{otherwise} \end{cases}$$

`sigma**2` appears in **both** places: the threshold `1 / sigma**2` and the quadratic
`0.5 sigma**2 d**2`. With `d = inside_weights * (pred - target)`, element by element:

$$loss = \frac{1}{R} \sum \mathrm{outside\_weights} \cdot \mathrm{smooth}_{L_1}(d), \qquad
dpred = \frac{\mathrm{outside\_weights} \cdot \mathrm{inside\_weights} \cdot
\mathrm{smooth}_{L_1}'(d)}{R}$$

divided by the number of **rows** `R` (RoIs), not by the number of elements.

- `smooth_l1_loss(pred, target, inside_weights, outside_weights, sigma)` -> `(loss, dpred)`: all
  arrays `(R, D)` (`D = 4(K+1)` in the detector); a weight given as `None` means all ones; `loss` a
  scalar of `pred`'s dtype, `dpred` `(R, D)`.
- Inside weights pick the coordinates that count (the four of a RoI's true class); outside weights
  scale the loss.
- `R = 0`: loss 0, an empty `dpred`. float32 in, float32 out.""",
    solution='''import numpy as np


def smooth_l1_loss(pred, target, inside_weights, outside_weights, sigma):
    """pred, target, inside_weights, outside_weights: (R, D) (a weight None means all ones).
    With d = inside_weights * (pred - target), returns
        loss  = sum(outside_weights * smooth_L1(d)) / R     (a scalar of pred's dtype),
        dpred = outside_weights * inside_weights * smooth_L1'(d) / R   (R, D)."""
    dtype = pred.dtype
    inside_weights = np.ones_like(pred) if inside_weights is None else inside_weights
    outside_weights = np.ones_like(pred) if outside_weights is None else outside_weights
    rows = pred.shape[0]
    if rows == 0:
        return dtype.type(0), np.zeros_like(pred)
    sigma2 = dtype.type(sigma) ** 2
    d = inside_weights * (pred - target)
    quadratic = np.abs(d) < 1 / sigma2
    value = np.where(quadratic, 0.5 * sigma2 * d * d, np.abs(d) - 0.5 / sigma2)
    slope = np.where(quadratic, sigma2 * d, np.sign(d))
    loss = np.sum(outside_weights * value) / rows
    dpred = outside_weights * inside_weights * slope / rows
    return dtype.type(loss), dpred.astype(dtype, copy=False)''',
    question=r"""
**Predict, then run.** One RoI, `pred - target = [0.5, 3.0]`, all weights 1, `sigma = 1`.
What are the loss and `dpred`?""",
    run='''pred = np.array([[0.5, 3.0]])
ones = np.ones_like(pred)
loss, dpred = smooth_l1_loss(pred, np.zeros_like(pred), ones, ones, 1.0)
print(f"loss = {loss:.4f}   dpred = {dpred.tolist()}")''',
    answer=r"""
`loss = 0.5 * 0.5**2 + (3 - 0.5) = 0.125 + 2.5 = 2.625` and `dpred = [[0.5, 1.0]]`: 0.5 is in
the quadratic zone (gradient `d`), 3 is beyond it (gradient `sign(d) = 1`). Under the L2 loss the
outlier's gradient would be 3, six times the other's; here it is capped at 1.""",
    expected=("loss = 2.6250   dpred = [[0.5, 1.0]]",),
)

# --- 04_boxes_and_sampling ------------------------------------------------------------------

IOU = Exercise(
    name="iou",
    functions=("iou",),
    task=r"""## 1. Intersection over union (`iou`)

Boxes are `(x1, y1, x2, y2)` in pixels, 0-based, with **inclusive** corners: the box covers
columns `x1` to `x2`, both included, so its width is `x2 - x1 + 1` (lesson 5, section 2). The
intersection of two boxes is the box from the larger `x1, y1` to the smaller `x2, y2`, with the
same `+ 1` in its sides and a side below 0 counted as 0:

$$\mathrm{IoU}(A, B) = \frac{|A \cap B|}{|A| + |B| - |A \cap B|}$$

- `iou(a, b)` -> `(A, B)` float64: `a` `(A, 4)`, `b` `(B, 4)`, every box of `a` against every box of
  `b`, whatever their dtype (integers too).
- Vectorise with broadcasting, `a[:, None, k]` against `b[None, :, k]`: no Python loop.""",
    solution='''import numpy as np


def iou(a, b):
    """a: (A, 4), b: (B, 4) boxes (x1, y1, x2, y2) with inclusive corners.
    Returns (A, B) float64: the intersection over union of every pair."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    area_a = (a[:, 2] - a[:, 0] + 1) * (a[:, 3] - a[:, 1] + 1)
    area_b = (b[:, 2] - b[:, 0] + 1) * (b[:, 3] - b[:, 1] + 1)
    a, b = a[:, None], b[None, :]                     # (A, 1, 4) against (1, B, 4)
    inter_w = np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]) + 1
    inter_h = np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]) + 1
    inter = np.maximum(inter_w, 0) * np.maximum(inter_h, 0)
    return inter / (area_a[:, None] + area_b[None, :] - inter)''',
    question=r"""
**Predict, then run.** Two 10x10 boxes, `(0, 0, 9, 9)` and `(9, 0, 18, 9)`, share one pixel
column (column 9). What is their IoU? And of the first with `(10, 0, 19, 9)`, its neighbour?""",
    run='''a = np.array([[0, 0, 9, 9]])
b = np.array([[9, 0, 18, 9], [10, 0, 19, 9]])
print("IoU:", iou(a, b).round(4).tolist())''',
    answer=r"""
`10 / 190 = 0.0526`: the shared column is 1 pixel wide and 10 tall, so the intersection is 10
pixels and the union `100 + 100 - 10 = 190`. The neighbour that starts at column 10 touches but
shares no pixel: 0. (With exclusive corners, `x2 - x1` wide, the first pair would give 0 too.)""",
    expected=("IoU: [[0.0526, 0.0]]",),
)

ENCODE_DECODE = Exercise(
    name="encode_decode",
    functions=("encode", "decode"),
    task=r"""## 2. Box regression targets (`encode`, `decode`)

A box is described by its centre and size, `w = x2 - x1 + 1`, `cx = x1 + 0.5 w` (and `h`, `cy`
likewise; inclusive corners). The deltas that move a proposal `P` onto its ground truth `G` are
measured in units of `P`'s own size (paper section 2.3, lesson 6 section 3):

$$t_x = \frac{G_{cx} - P_{cx}}{P_w}, \quad t_y = \frac{G_{cy} - P_{cy}}{P_h}, \quad
t_w = \log\frac{G_w}{P_w}, \quad t_h = \log\frac{G_h}{P_h} .$$

`decode` is the exact inverse: `w' = P_w exp(t_w)`, `cx' = P_cx + t_x P_w`, then
`x1 = cx' - 0.5 w'` and `x2 = cx' + 0.5 w' - 1` (`y` likewise). Before the `exp`, **`t_w` and
`t_h` are clamped at `log(1000 / 16)`** (no box grows more than 62.5 times in one step), so a wild
prediction cannot overflow.

- `encode(rois, gt)` -> `(R, 4)` deltas `(tx, ty, tw, th)`: `rois`, `gt` `(R, 4)`; in the rois'
  floating dtype (float64 for integer rois).
- `decode(rois, deltas)` -> boxes `(R, 4k)`: `deltas` `(R, 4k)` hold one group of four per class,
  each group applied to the same RoI; in the deltas' dtype.
- `decode(rois, encode(rois, gt))` gives `gt` back. Vectorise: reshape the deltas to
  `(R, k, 4)`.""",
    solution='''import numpy as np


def centres_and_sizes(boxes):
    """(R, 4) boxes -> cx, cy, w, h, each (R,), inclusive corners."""
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    return boxes[:, 0] + 0.5 * w, boxes[:, 1] + 0.5 * h, w, h


def encode(rois, gt):
    """rois, gt: (R, 4) boxes. Returns (R, 4) deltas (tx, ty, tw, th) that move each RoI onto its
    ground-truth box, in the rois' floating dtype (float64 for integer rois)."""
    rois = np.asarray(rois)
    dtype = rois.dtype if np.issubdtype(rois.dtype, np.floating) else np.float64
    px, py, pw, ph = centres_and_sizes(rois.astype(dtype))
    gx, gy, gw, gh = centres_and_sizes(np.asarray(gt).astype(dtype))
    return np.stack([(gx - px) / pw, (gy - py) / ph, np.log(gw / pw), np.log(gh / ph)], axis=1)


def decode(rois, deltas):
    """rois: (R, 4); deltas: (R, 4k), one (tx, ty, tw, th) group per class.
    Returns boxes (R, 4k), each group applied to the same RoI, tw and th clamped at
    log(1000 / 16) before the exp; in the deltas' dtype."""
    deltas = np.asarray(deltas)
    dtype = deltas.dtype
    r, columns = deltas.shape
    t = deltas.reshape(r, columns // 4, 4)                                 # (R, k, 4)
    px, py, pw, ph = (v[:, None] for v in centres_and_sizes(np.asarray(rois).astype(dtype)))
    largest = dtype.type(np.log(1000 / 16))
    cx = px + t[..., 0] * pw
    cy = py + t[..., 1] * ph
    w = pw * np.exp(np.minimum(t[..., 2], largest))
    h = ph * np.exp(np.minimum(t[..., 3], largest))
    boxes = np.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w - 1, cy + 0.5 * h - 1], axis=-1)
    return boxes.reshape(r, columns)''',
    question=r"""
**Predict, then run.** The RoI `(0, 0, 15, 15)` and its ground truth `(8, 0, 23, 15)`, the
same 16x16 box moved 8 pixels right: what does `encode` give? And how wide is the box that
`decode` makes from the RoI and the wild deltas `(0, 0, 10, 10)`?""",
    run='''roi = np.array([[0.0, 0.0, 15.0, 15.0]])
print("deltas:", encode(roi, np.array([[8.0, 0.0, 23.0, 15.0]])).tolist())
box = decode(roi, np.array([[0.0, 0.0, 10.0, 10.0]]))[0]
print(f"decoded width: {box[2] - box[0] + 1:.1f}")''',
    answer=r"""
`(0.5, 0, 0, 0)`: the centre moves by 8 pixels, half the RoI's width; the size does not change,
and `log(1) = 0`. The wild `tw = 10` is clamped to `log(62.5)`, so the width is
`16 * 62.5 = 1000` pixels, not `16 * exp(10) = 352,423`.""",
    expected=("deltas: [[0.5, 0.0, 0.0, 0.0]]", "decoded width: 1000.0"),
)

SAMPLE_ROIS = Exercise(
    name="sample_rois",
    functions=("sample_rois",),
    task=r"""## 3. Hierarchical sampling: one image's RoIs (`sample_rois`)

Each SGD step trains on `R = 128` RoIs from `N = 2` images, 64 from each, of which at most 25 %
are foreground (paper section 2.3, lesson 6 section 2). For one image:

- **foreground** candidates: RoIs whose best IoU with a ground-truth box is `>= 0.5`; they keep
  their class label;
- **background** candidates: best IoU in `[bg_lo, 0.5)` (`bg_lo = 0.1` in the paper); label 0.
  RoIs below `bg_lo` are never sampled;
- `num_fg = min(round(fg_fraction * rois_per_image), number of foreground candidates)`, with
  Python's `round` (which rounds halves to even: `round(0.5) = 0`, `round(1.5) = 2`);
- `num_bg = min(rois_per_image - num_fg, number of background candidates)`: background fills the
  rest, so an image short of either gives a smaller sample;
- both drawn **at random, without replacement, with the `rng` you are given**
  (`rng.choice(..., replace=False)` or `rng.permutation`): never "the first k", and never a fresh
  generator, so the same seed gives the same sample.

- `sample_rois(entry, rois_per_image, fg_fraction, rng, bg_lo)` -> `(keep, labels)`: `entry` has
  `.max_overlaps` `(P,)` float64 (each RoI's best IoU) and `.labels` `(P,)` int64 (its class where
  it is foreground); `rng` a `np.random.Generator`. `keep` `(R_i,)` int64 indices into the RoIs,
  **foreground first**, no index twice; `labels` `(R_i,)` int64: the class for foreground, 0 for
  background.
- The checker judges properties (counts, IoU ranges, labels, unique indices, order, the same
  sample from the same seed, a random choice), not one particular draw.""",
    solution='''import numpy as np


def sample_rois(entry, rois_per_image, fg_fraction, rng, bg_lo):
    """entry: .max_overlaps (P,) float64, .labels (P,) int64; rng: np.random.Generator.
    Returns keep (R_i,) int64 indices, foreground first, and labels (R_i,) int64 (the class for
    foreground, 0 for background)."""
    overlaps = entry.max_overlaps
    fg = np.flatnonzero(overlaps >= 0.5)
    bg = np.flatnonzero((overlaps >= bg_lo) & (overlaps < 0.5))
    num_fg = min(round(fg_fraction * rois_per_image), len(fg))
    num_bg = min(rois_per_image - num_fg, len(bg))
    fg = rng.permutation(fg)[:num_fg]
    bg = rng.permutation(bg)[:num_bg]
    keep = np.concatenate([fg, bg]).astype(np.int64)
    labels = np.asarray(entry.labels)[keep].astype(np.int64)
    labels[num_fg:] = 0
    return keep, labels''',
    question=r"""
**Predict, then run.** An image has 10 foreground RoIs (IoU 0.7, class 3), 100 background
candidates (IoU 0.3) and 50 RoIs at IoU 0.05. With `rois_per_image = 64`, `fg_fraction = 0.25` and
`bg_lo = 0.1`, how many foreground and how many background RoIs are drawn?""",
    run='''from types import SimpleNamespace

overlaps = np.concatenate([np.full(10, 0.7), np.full(100, 0.3), np.full(50, 0.05)])
entry = SimpleNamespace(max_overlaps=overlaps, labels=np.where(overlaps >= 0.5, 3, 0))
keep, labels = sample_rois(entry, 64, 0.25, np.random.default_rng(0), 0.1)
again, _ = sample_rois(entry, 64, 0.25, np.random.default_rng(0), 0.1)
print(f"foreground {np.count_nonzero(labels)}, background {np.count_nonzero(labels == 0)};"
      f" the same seed gives the same sample: {np.array_equal(keep, again)}")''',
    answer=r"""
**10 foreground and 54 background.** A quarter of 64 is 16, but only 10 RoIs qualify, so all
10 are taken; background fills the remaining `64 - 10 = 54` places from its 100 candidates. The
50 RoIs at IoU 0.05 are below `bg_lo` and never drawn.""",
    expected=("foreground 10, background 54; the same seed gives the same sample: True",),
)

# --- 05_nms_and_map -------------------------------------------------------------------------

NMS = Exercise(
    name="nms",
    functions=("nms",),
    task=r"""## 1. Non-maximum suppression (`nms`)

A detector fires many overlapping boxes on one object; greedy NMS keeps the best and drops its
near-duplicates (lesson 7, section 2):

1. visit the boxes in **descending score order**; of equal scores, the box with the **smaller
   index** first (`np.argsort(-scores, kind="stable")`: the default sort is not stable);
2. keep the box unless an already kept box suppressed it;
3. a kept box suppresses every later box whose IoU with it is **greater than** `threshold`. A box
   at **exactly** the threshold survives.

- `nms(boxes, scores, threshold)` -> indices `(M,)` **int64** of the kept boxes, highest score
  first: `boxes` `(N, 4)` with inclusive corners (IoU as in notebook 04: `+ 1` in the sides),
  `scores` `(N,)`. No boxes: an empty int64 array.
- You need the IoU of one box against many: write it as a helper in the same cell (your `iou`
  from notebook 04 will do; `minifrcnn check` only sees this notebook).
- A loop over the kept boxes is unavoidable (each keep depends on the ones before); vectorise the
  IoUs inside it.""",
    solution='''import numpy as np


def overlaps(box, boxes):
    """IoU of one box (4,) with each of boxes (M, 4), inclusive corners: (M,) float64."""
    area = (box[2] - box[0] + 1) * (box[3] - box[1] + 1)
    areas = (boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1)
    inter_w = np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]) + 1
    inter_h = np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]) + 1
    inter = np.maximum(inter_w, 0) * np.maximum(inter_h, 0)
    return inter / (area + areas - inter)


def nms(boxes, scores, threshold):
    """boxes: (N, 4), scores: (N,). Returns int64 indices (M,) of the kept boxes, highest score
    first; a box is suppressed by a kept box with a higher rank at IoU > threshold."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    order = np.argsort(-np.asarray(scores), kind="stable")
    keep = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(best)
        order = rest[overlaps(boxes[best], boxes[rest]) <= threshold]
    return np.array(keep, dtype=np.int64)''',
    question=r"""
**Predict, then run.** Five boxes and their scores. How many survive NMS at 0.5, and in what
order? (Box 4 is the left half of box 0.)

| index | box | score |
| --- | --- | --- |
| 0 | (0, 0, 9, 9) | 0.9 |
| 1 | (1, 0, 10, 9) | 0.8 |
| 2 | (5, 0, 14, 9) | 0.7 |
| 3 | (20, 20, 29, 29) | 0.6 |
| 4 | (0, 0, 4, 9) | 0.65 |""",
    run='''boxes = np.array([[0, 0, 9, 9], [1, 0, 10, 9], [5, 0, 14, 9], [20, 20, 29, 29],
                  [0, 0, 4, 9]])
scores = np.array([0.9, 0.8, 0.7, 0.6, 0.65])
kept = nms(boxes, scores, 0.5)
print(f"{len(kept)} survive: {kept.tolist()}")''',
    answer=r"""
**4 survive, in the order `[0, 2, 4, 3]`.** Box 1 overlaps box 0 by `90 / 110 = 0.82` and goes.
Box 2 overlaps box 0 by `50 / 150 = 0.33` and stays. Box 4 lies inside box 0 with half its area:
IoU `50 / 100 = 0.5` **exactly**, not above the threshold, so it stays. Box 3 overlaps nothing.""",
    expected=("4 survive: [0, 2, 4, 3]",),
)

VOC_AP = Exercise(
    name="voc_ap",
    functions=("voc_ap",),
    task=r"""## 2. Average precision (`voc_ap`)

Rank one class's detections by score; after each, recall and precision give one point of the
curve (lesson 7, section 3). Average precision summarises the curve in two ways:

- **VOC2007, 11 points** (`use_07_metric=True`): the mean over the thresholds
  `t = 0, 0.1, ..., 1` of the largest precision at any recall `>= t` (0 if the curve never
  reaches `t`). The thresholds must be **exact tenths**, `np.arange(11) / 10`:
  `np.arange(0, 1.1, 0.1)` gives `0.6000000000000001` as its seventh, which a curve point at
  recall exactly 0.6 does not reach.
- **VOC2010+, the area** (`use_07_metric=False`): add sentinel points at recall 0 and recall 1,
  both with precision 0; replace each precision by the **envelope**, the largest precision at that
  recall or any later one (so it never rises with recall); then sum rectangles wherever recall
  steps up: `(r[i+1] - r[i]) * envelope[i+1]`.

- `voc_ap(recall, precision, use_07_metric)` -> a Python `float` in `[0, 1]`: `recall`,
  `precision` `(D,)` after each of the `D` ranked detections (recall non-decreasing). `D = 0` (no
  detections): 0.
- Vectorise: a `(11, D)` comparison for the 11 points; `np.maximum.accumulate` on the reversed
  precisions for the envelope.""",
    solution='''import numpy as np


def voc_ap(recall, precision, use_07_metric):
    """recall, precision: (D,) the curve after each ranked detection. Returns the VOC2007
    11-point AP (use_07_metric True) or the area under the precision envelope, as a float."""
    recall = np.asarray(recall, dtype=np.float64)
    precision = np.asarray(precision, dtype=np.float64)
    if use_07_metric:
        thresholds = np.arange(11) / 10                       # exact tenths
        reached = recall[None, :] >= thresholds[:, None]      # (11, D)
        best = np.where(reached, precision[None, :], 0.0).max(axis=1, initial=0.0)
        return float(best.mean())
    r = np.concatenate([[0.0], recall, [1.0]])
    p = np.concatenate([[0.0], precision, [0.0]])
    envelope = np.maximum.accumulate(p[::-1])[::-1]
    return float(np.sum((r[1:] - r[:-1]) * envelope[1:]))''',
    question=r"""
**Predict, then run.** Five objects; the four ranked detections are right, right, wrong,
right, so `recall = [0.2, 0.4, 0.4, 0.6]` and `precision = [1, 1, 2/3, 3/4]`. What is the 11-point
AP? And the area?""",
    run='''recall = np.array([1, 2, 2, 3]) / 5
precision = np.array([1, 2, 2, 3]) / np.array([1, 2, 3, 4])
eleven_point = voc_ap(recall, precision, True)
area = voc_ap(recall, precision, False)
print(f"11-point AP {eleven_point:.4f}, area AP {area:.4f}")''',
    answer=r"""
**11-point: `6.5 / 11 = 0.5909`.** Thresholds 0 to 0.4 reach a precision of 1 (five points);
0.5 and 0.6 reach only the last point, 0.75 (recall 0.6 counts for `t = 0.6` because the
thresholds are exact tenths: with `0.6000000000000001` it would not, and the AP would drop to
`5.75 / 11 = 0.5227`); 0.7 to 1 are never reached. **Area: `0.2 * 1 + 0.2 * 1 + 0.2 * 0.75 =
0.55`**; the wrong detection at recall 0.4 costs nothing, since the envelope there is still 1.""",
    expected=("11-point AP 0.5909, area AP 0.5500",),
)

# --- 06_truncated_svd -----------------------------------------------------------------------

TRUNCATED_SVD = Exercise(
    name="truncated_svd",
    functions=("truncated_svd",),
    task=r"""## Truncated SVD (`truncated_svd`)

A fully connected layer `y = W x + b`, `W` of shape `(u, v)` (out, in), costs `u v` multiply-adds
per RoI. Write `W` with its singular value decomposition and keep the `t` largest singular
values (paper section 3.1, lesson 8):

$$W = U \Sigma V^T \approx U_t \Sigma_t V_t^T = w_{second}\, w_{first}, \qquad
w_{first} = \Sigma_t V_t^T \ (t \times v), \qquad w_{second} = U_t \ (u \times t) .$$

The layer becomes two: first `x -> w_first x` (no bias), then `-> w_second (w_first x) + b` (the
original bias), `t (u + v)` multiply-adds instead of `u v`. No rank-`t` matrix is closer to `W`
(Eckart-Young): the error `||W - w_second w_first||_F` is the root of the sum of the dropped
squared singular values.

- `truncated_svd(w, rank)` -> `(w_first, w_second)`: `w` `(out, in)`; `w_first` `(rank, in)`,
  `w_second` `(out, rank)`, both in `w`'s dtype (float32 in, float32 out).
- `np.linalg.svd(w, full_matrices=False)` returns `U`, the singular values largest first, and
  `V^T`. A singular vector's sign is arbitrary (`-u` and `-v` work as well as `u` and `v`), so the
  checker judges shapes, dtype and the reconstruction error, not the entries.""",
    solution='''import numpy as np


def truncated_svd(w, rank):
    """w: (out, in). Returns w_first: (rank, in) = S_t V_t^T and w_second: (out, rank) = U_t, in
    w's dtype, with w ~ w_second @ w_first the best rank-`rank` approximation."""
    u, s, vt = np.linalg.svd(w, full_matrices=False)
    w_first = s[:rank, None] * vt[:rank]
    w_second = u[:, :rank]
    return w_first.astype(w.dtype, copy=False), np.ascontiguousarray(w_second, dtype=w.dtype)''',
    question=r"""
**Predict, then run.** `w` is a 4x3 matrix with singular values 3, 2 and 1. Truncated at
rank 2, what shapes do `w_first` and `w_second` have, and what is
`||w - w_second @ w_first||_F`?""",
    run='''rng = np.random.default_rng(0)
u = np.linalg.qr(rng.standard_normal((4, 3)))[0]        # orthonormal columns
v = np.linalg.qr(rng.standard_normal((3, 3)))[0]
w = u @ np.diag([3.0, 2.0, 1.0]) @ v.T
w_first, w_second = truncated_svd(w, 2)
error = np.linalg.norm(w - w_second @ w_first)
print(f"w_first {w_first.shape}, w_second {w_second.shape}, error {error:.4f}")''',
    answer=r"""
`w_first (2, 3)`, `w_second (4, 2)` and an error of **1.0**: the one dropped singular value.
Keeping 3 and 2 keeps `(9 + 4) / 14 = 93 %` of the squared singular values ("energy"); the
factors hold `2 * (4 + 3) = 14` numbers against the 12 of `w`, a loss at this size, but a
4096 x 25088 fc6 at rank 1024 keeps 29 % of its weights.""",
    expected=("w_first (2, 3), w_second (4, 2), error 1.0000",),
)

# --- the notebooks --------------------------------------------------------------------------

NOTEBOOKS = (
    Notebook(
        filename="01_layers.ipynb",
        title="Exercises 1: the layers, forward and backward",
        lesson="[Lesson 1: convolution, ReLU and max pooling](../01_conv_relu_maxpool.ipynb)",
        about="You write the numerical gradient that checks every backward pass, then four layer "
              "pairs `*_forward(...) -> (out, cache)` and `*_backward(dout, cache) -> gradients`: "
              "ReLU, a fully connected layer, a convolution and max pooling.",
        exercises=(NUMERICAL_GRADIENT, RELU, LINEAR, CONV2D, MAXPOOL2D),
    ),
    Notebook(
        filename="02_roi_pool.ipynb",
        title="Exercises 2: RoI pooling",
        lesson="[Lesson 2: RoI projection and RoI pooling](../02_roi_pooling.ipynb)",
        about="You write the layer that makes Fast R-CNN what it is: RoI max pooling, forward and "
              "backward, to the exact rule of Caffe and torchvision.",
        exercises=(ROI_POOL,),
    ),
    Notebook(
        filename="03_losses.ipynb",
        title="Exercises 3: the two losses",
        lesson="[Lesson 3: the multi-task loss](../03_multitask_loss.ipynb)",
        about="You write the two halves of the multi-task loss, each returning the loss and its "
              "gradient at once: the softmax log loss and the smooth L1 loss.",
        exercises=(SOFTMAX_CROSS_ENTROPY, SMOOTH_L1_LOSS),
    ),
    Notebook(
        filename="04_boxes_and_sampling.ipynb",
        title="Exercises 4: boxes and sampling",
        lesson="[Lesson 5: the data and the proposals](../05_data_and_proposals.ipynb) and "
               "[lesson 6: hierarchical sampling and training](../06_sampling_and_training.ipynb)",
        about="You write the box arithmetic training needs (IoU with inclusive corners, the "
              "regression targets and their inverse) and the sampling of one image's RoIs.",
        exercises=(IOU, ENCODE_DECODE, SAMPLE_ROIS),
    ),
    Notebook(
        filename="05_nms_and_map.ipynb",
        title="Exercises 5: non-maximum suppression and average precision",
        lesson="[Lesson 7: detection, non-maximum suppression and mAP]"
               "(../07_detection_and_map.ipynb)",
        about="You write the two steps after the network at test time: greedy non-maximum "
              "suppression, and the average precision that scores the detections.",
        exercises=(NMS, VOC_AP),
    ),
    Notebook(
        filename="06_truncated_svd.ipynb",
        title="Exercises 6: truncated SVD",
        lesson="[Lesson 8: truncated SVD](../08_truncated_svd.ipynb)",
        about="You write the factorisation that turns one fully connected layer into two thin "
              "ones.",
        exercises=(TRUNCATED_SVD,),
    ),
)

INTRO = r"""# {title}

These exercises follow {lesson}. {about}

**How they work.**
- Each exercise explains what to build and gives you a code cell with the functions' signatures,
  their docstrings, and `raise NotImplementedError` as the body. Replace the bodies; keep the
  names and the arguments (they are always passed positionally, in the order shown). You may add
  helper functions and imports.
- Then a question: **predict** the number first, on paper, then run the cell, which computes it
  with your functions (until you have written them it stops with `NotImplementedError`: that is
  expected). The answer is folded under "Answer".
- The last cell of each exercise calls `check(...)`, which tests your functions on many generated
  cases against minifrcnn's reference implementation and shows what went wrong on a small example.
  It runs in this notebook's own kernel and is **feedback, not the grade**: run it as often as you
  like.
- The **grade** comes from `minifrcnn check {filename}`, which takes your functions out of this
  notebook and runs the same tests in a separate process. It keeps only the code cells' top-level
  imports, `def`s, `class`es and assignments of literal constants, and skips everything else
  (the question cells, the `check` cells, any variable you computed). So each function must stand
  on its own: whatever it uses must be an import, another top-level `def`, or a constant like
  `THRESHOLD = 0.5`.
- The library is open: its reference implementations are public, and reading them after you have
  tried is a fine way to learn. But `minifrcnn check` flags a submission that imports the
  library's own version of a function it must write (`from minifrcnn.layers import relu_forward`,
  say), and that exercise then scores no points.
- Arrays are float32 or float64, and everything you return comes back in the dtype it came in:
  float32 in, float32 out."""

CHECK = """from minifrcnn.exercises import check
check({arguments})"""


def skeleton(solution, function_names):
    """The student's version of a solution cell: its imports, then each function to write with
    its signature and docstring and `raise NotImplementedError` as the body (helpers dropped)."""
    lines = solution.splitlines()
    parts = []
    for node in ast.parse(solution).body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            parts.append("\n".join(lines[node.lineno - 1:node.end_lineno]))
        elif isinstance(node, ast.FunctionDef) and node.name in function_names:
            docstring = node.body[0]
            if not (isinstance(docstring, ast.Expr) and isinstance(docstring.value, ast.Constant)):
                raise ValueError(f"{node.name} needs a docstring: the skeleton keeps it")
            head = "\n".join(lines[node.lineno - 1:docstring.end_lineno])
            parts.append(f"{head}\n    raise NotImplementedError")
    return "\n\n\n".join(parts)


def exercise_cells(exercise, solutions):
    names = exercise.functions
    defined = {node.name for node in ast.parse(exercise.solution).body
               if isinstance(node, ast.FunctionDef)}
    if not set(names) <= defined:
        raise ValueError(f"{exercise.name}: the solution does not define {set(names) - defined}")
    code = exercise.solution if solutions else skeleton(exercise.solution, names)
    task, question, answer = (text.strip() for text in (exercise.task, exercise.question,
                                                         exercise.answer))
    arguments = ", ".join([f'"{exercise.name}"', *names])
    cell_id = exercise.name.replace("_", "-")
    return [
        nbformat.v4.new_markdown_cell(task, id=f"{cell_id}-task"),
        nbformat.v4.new_code_cell(code, id=f"{cell_id}-code", metadata={"tags": ["skeleton"]}),
        nbformat.v4.new_markdown_cell(question, id=f"{cell_id}-question"),
        nbformat.v4.new_code_cell(exercise.run, id=f"{cell_id}-predict",
                                  metadata={"tags": ["predict"]}),
        nbformat.v4.new_markdown_cell(
            f"<details><summary>Answer</summary>\n\n{answer}\n\n</details>",
            id=f"{cell_id}-answer"),
        nbformat.v4.new_code_cell(CHECK.format(arguments=arguments), id=f"{cell_id}-check",
                                  metadata={"tags": ["check"]}),
    ]


def build(notebook, solutions=False):
    """One notebook as an nbformat object: the student's, or with solutions the instructor's."""
    intro = INTRO.format(title=notebook.title, lesson=notebook.lesson, about=notebook.about,
                         filename=notebook.filename)
    cells = [nbformat.v4.new_markdown_cell(intro, id="intro")]
    for exercise in notebook.exercises:
        cells += exercise_cells(exercise, solutions)
    nb = nbformat.v4.new_notebook(cells=cells, metadata={
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    })
    nbformat.validate(nb)
    return nb


def write_all(directory, solutions=False):
    """Write the six notebooks into directory; returns their paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for notebook in NOTEBOOKS:
        path = directory / notebook.filename
        nbformat.write(build(notebook, solutions), path)
        paths.append(path)
    return paths


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE,
                        help="where to write the student notebooks (default: next to this file)")
    parser.add_argument("--solutions", type=Path, metavar="DIR",
                        help="write the instructor copies, with solutions, into DIR instead")
    args = parser.parse_args(argv)
    if args.solutions is not None:
        paths = write_all(args.solutions, solutions=True)
    else:
        paths = write_all(args.out)
    for path in paths:
        print(path)


if __name__ == "__main__":
    main()
