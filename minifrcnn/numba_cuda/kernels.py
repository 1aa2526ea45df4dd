"""The CUDA kernels of minifrcnn.numba_cuda, one thread per output element.

Importing this module needs numba-cuda (it defines @cuda.jit functions); the layer functions in
conv.py and roi_pool.py import it on their first call. Each kernel is launched on a 1-D grid of at
least as many threads as it has outputs; thread `t = cuda.grid(1)` owns the element whose
row-major flat index is `t` and returns at once when `t` is past the end.

Each kernel works out its own 4-D index from `t`, in plain integer arithmetic: a shared
`@cuda.jit(device=True)` helper would be neater, but numba-cuda 0.30 asks the driver for the
current GPU's compute capability when it compiles a device function, so `cuda.compile_ptx` of any
kernel that calls one fails on a machine without a GPU, and the PTX tests could not run.

Two habits keep the kernels honest:

- Lazy compilation: `@cuda.jit` with no signature compiles on the first launch, once per dtype.
  An eager signature would need a GPU driver when this module is imported.
- Typed constants: an accumulator starts at `float32(0)`. In a float32 kernel it stays float32;
  in a float64 kernel Numba widens it to float64 at the first float64 term (0 is exact in both).
  A plain `0.0` literal is a float64 and would turn every float32 sum into float64 arithmetic.

Scatter-adds: RoI-pool backward uses `cuda.atomic.add` (a cell can win bins of many RoIs, with no
way to know which in advance); the convolution's input gradient is a gather (each input cell sums
what it received, so no two threads write the same place, and the sum order is fixed).
"""

from numba import cuda, float32


@cuda.jit
def fill_zero(a):
    """a[t] = 0 for a 1-D array a: one thread per element."""
    t = cuda.grid(1)
    if t < a.size:
        a[t] = 0


# ---------------------------------------------------------------------------------------------
# Convolution, with (ka, kb) the offset inside the kernel:
#   out[n, f, i, j] = b[f] + sum_{c, ka, kb} w[f, c, ka, kb] * x_pad[n, c, i*stride+ka, j*stride+kb]
# x_pad is never built: a tap that falls on the padding multiplies a zero, so it is skipped.
# ---------------------------------------------------------------------------------------------

@cuda.jit
def conv2d_forward_kernel(x, w, b, stride, pad, out):
    """One thread per output element out[n, f, i, j]: a direct dot product of filter f with the
    input patch under output pixel (i, j).

    x: (N, C, H, W), w: (F, C, KH, KW), b: (F,), out: (N, F, H', W'); threads: N*F*H'*W'.
    """
    t = cuda.grid(1)
    if t >= out.size:
        return
    f_count, out_h, out_w = out.shape[1], out.shape[2], out.shape[3]
    n = t // (f_count * out_h * out_w)               # t = ((n * F + f) * H' + i) * W' + j
    f = t // (out_h * out_w) % f_count
    i = t // out_w % out_h
    j = t % out_w
    channels, height, width = x.shape[1], x.shape[2], x.shape[3]
    acc = b[f]
    for c in range(channels):
        for ka in range(w.shape[2]):
            row = i * stride + ka - pad
            if row < 0 or row >= height:
                continue
            for kb in range(w.shape[3]):
                col = j * stride + kb - pad
                if 0 <= col < width:
                    acc += w[f, c, ka, kb] * x[n, c, row, col]
    out[n, f, i, j] = acc


@cuda.jit
def conv2d_dw_kernel(x, dout, stride, pad, dw):
    """One thread per weight dw[f, c, ka, kb]: the sum, over every image n and output pixel (i, j),
    of the upstream gradient times the input value that this weight multiplied there.

    x: (N, C, H, W), dout: (N, F, H', W'), dw: (F, C, KH, KW); threads: F*C*KH*KW.
    """
    t = cuda.grid(1)
    if t >= dw.size:
        return
    channels, kh, kw = dw.shape[1], dw.shape[2], dw.shape[3]
    f = t // (channels * kh * kw)                    # t = ((f * C + c) * KH + ka) * KW + kb
    c = t // (kh * kw) % channels
    ka = t // kw % kh
    kb = t % kw
    height, width = x.shape[2], x.shape[3]
    acc = float32(0)
    for n in range(x.shape[0]):
        for i in range(dout.shape[2]):
            row = i * stride + ka - pad
            if row < 0 or row >= height:
                continue
            for j in range(dout.shape[3]):
                col = j * stride + kb - pad
                if 0 <= col < width:
                    acc += dout[n, f, i, j] * x[n, c, row, col]
    dw[f, c, ka, kb] = acc


@cuda.jit
def conv2d_db_kernel(dout, db):
    """One thread per filter: db[f] = the sum of dout[:, f] over images and output pixels.

    dout: (N, F, H', W'), db: (F,); threads: F.
    """
    f = cuda.grid(1)
    if f >= db.size:
        return
    acc = float32(0)
    for n in range(dout.shape[0]):
        for i in range(dout.shape[2]):
            for j in range(dout.shape[3]):
                acc += dout[n, f, i, j]
    db[f] = acc


@cuda.jit
def conv2d_dx_kernel(dout, w, stride, pad, dx):
    """One thread per input element dx[n, c, row, col] (a gather, so no atomics).

    Input cell (row, col) met weight w[f, c, ka, kb] at every output pixel (i, j) with
    i * stride + ka - pad == row and j * stride + kb - pad == col; its gradient is the sum of
    dout[n, f, i, j] * w[f, c, ka, kb] over those. For each tap (ka, kb) there is at most one such
    (i, j), and only when row + pad - ka is a multiple of the stride inside [0, H' * stride).

    dout: (N, F, H', W'), w: (F, C, KH, KW), dx: (N, C, H, W); threads: N*C*H*W.
    """
    t = cuda.grid(1)
    if t >= dx.size:
        return
    channels, height, width = dx.shape[1], dx.shape[2], dx.shape[3]
    n = t // (channels * height * width)             # t = ((n * C + c) * H + row) * W + col
    c = t // (height * width) % channels
    row = t // width % height
    col = t % width
    out_h, out_w = dout.shape[2], dout.shape[3]
    acc = float32(0)
    for f in range(w.shape[0]):
        for ka in range(w.shape[2]):
            di = row + pad - ka                      # = i * stride for the output row i, if any
            if di < 0 or di % stride != 0 or di // stride >= out_h:
                continue
            i = di // stride
            for kb in range(w.shape[3]):
                dj = col + pad - kb
                if dj < 0 or dj % stride != 0 or dj // stride >= out_w:
                    continue
                acc += dout[n, f, i, dj // stride] * w[f, c, ka, kb]
    dx[n, c, row, col] = acc


# ---------------------------------------------------------------------------------------------
# RoI max pooling. The bins are computed on the host by minifrcnn.layers.roi_pool.roi_bins (the
# reference's own float arithmetic, so the kernel cannot round a bin edge differently): bin
# (ph, pw) of RoI r is rows hstart[r, ph]:hend[r, ph], columns wstart[r, pw]:wend[r, pw].
# ---------------------------------------------------------------------------------------------

@cuda.jit
def roi_pool_forward_kernel(features, batch_index, hstart, hend, wstart, wend, out, argmax):
    """One thread per output element out[r, c, ph, pw]: the maximum of its bin in channel c of
    image batch_index[r], and the flat index h * W + w of the cell that holds it.

    features: (N, C, H, W), batch_index: (R,), hstart/hend: (R, PH), wstart/wend: (R, PW),
    out: (R, C, PH, PW), argmax: (R, C, PH, PW); threads: R*C*PH*PW.
    """
    t = cuda.grid(1)
    if t >= out.size:
        return
    channels, ph_count, pw_count = out.shape[1], out.shape[2], out.shape[3]
    r = t // (channels * ph_count * pw_count)        # t = ((r * C + c) * PH + ph) * PW + pw
    c = t // (ph_count * pw_count) % channels
    ph = t // pw_count % ph_count
    pw = t % pw_count
    h0, h1 = hstart[r, ph], hend[r, ph]
    w0, w1 = wstart[r, pw], wend[r, pw]
    if h1 <= h0 or w1 <= w0:                 # empty once clipped to the map: 0, and no winner
        out[r, c, ph, pw] = 0
        argmax[r, c, ph, pw] = -1
        return
    b = batch_index[r]
    width = features.shape[3]
    best = features[b, c, h0, w0]
    best_index = h0 * width + w0
    for h in range(h0, h1):
        for w in range(w0, w1):
            v = features[b, c, h, w]
            # Strict `>` in row-major order: a tie keeps the first cell. A NaN wins over numbers,
            # the first NaN over later ones, as in the reference's np.argmax.
            if v > best or (v != v and best == best):
                best = v
                best_index = h * width + w
    out[r, c, ph, pw] = best
    argmax[r, c, ph, pw] = best_index


@cuda.jit
def roi_pool_backward_kernel(dout, batch_index, argmax, dfeatures):
    """One thread per upstream element dout[r, c, ph, pw]: add it to the cell that won the bin.

    Scatter-add with cuda.atomic.add: one cell can win bins of one RoI (neighbouring bins overlap
    by a cell) and of many RoIs, and which thread meets which cell is known only from argmax, so
    several threads may add to the same cell at once. The sum is right; its order, and so the
    last bits of a float32 result, can change from run to run. dfeatures must start at zero.

    dout, argmax: (R, C, PH, PW), batch_index: (R,), dfeatures: (N, C, H, W); threads: R*C*PH*PW.
    """
    t = cuda.grid(1)
    if t >= dout.size:
        return
    channels, ph_count, pw_count = dout.shape[1], dout.shape[2], dout.shape[3]
    r = t // (channels * ph_count * pw_count)        # t = ((r * C + c) * PH + ph) * PW + pw
    c = t // (ph_count * pw_count) % channels
    ph = t // pw_count % ph_count
    pw = t % pw_count
    k = argmax[r, c, ph, pw]
    if k < 0:                                # empty bin: nothing to send back
        return
    width = dfeatures.shape[3]
    cuda.atomic.add(dfeatures, (batch_index[r], c, k // width, k % width), dout[r, c, ph, pw])
