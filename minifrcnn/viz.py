"""Pictures of what the layers do, for the lessons and the README.

Every helper draws on a matplotlib `ax` you pass in (or returns a Figure), so a lesson can put
several pictures side by side. A 2-D array is drawn the way an image is shown: cell (row, col) is
the unit square centred on x = col, y = row, with row 0 at the top.

Nothing here works out a pooling window or a maximum itself: RoI bins come from
`minifrcnn.layers.roi_pool.roi_bins`, the projected region from the same function with a single
1x1 bin, and every winning cell from the forward pass's cache, read through the layer's own
backward pass (`winners`), so a picture always shows what the layer computed.

The module never picks a backend: notebooks show figures inline, and
`python -m minifrcnn.viz lessons/figures/roi_pooling.png` saves the README's figure with Agg.
"""

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Circle, Rectangle

from .boxes import sizes as box_sizes
from .layers import (
    maxpool2d_backward,
    maxpool2d_forward,
    roi_pool_backward,
    roi_pool_forward,
)
from .layers.conv import conv_output_size, im2col
from .layers.roi_pool import roi_bins

# Neighbouring bins get clearly different colours; the list repeats for grids larger than 3x3.
BIN_COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple",
              "tab:brown", "tab:pink", "tab:olive", "tab:cyan")


def bin_color(ph, pw, pw_count):
    """The colour of bin (ph, pw) in a grid PW bins wide, the same in every picture."""
    return BIN_COLORS[(ph * pw_count + pw) % len(BIN_COLORS)]


def winners(backward, cache, out_shape, dtype):
    """Which input cell won each output of a max-based layer (max pooling, RoI pooling).

    backward(dout, cache) is the layer's backward pass, cache what its forward returned,
    out_shape and dtype those of the forward's output. A gradient of 1 sent to one output alone
    lands on exactly the cell that won it, so this asks the layer itself, through its public
    backward pass, rather than reading the private layout of its cache.
    Returns flat indices into the layer's input (row * W + col for a (1, 1, H, W) input), shaped
    like the output, with -1 where an output has no winner (an empty RoI bin).
    """
    found = np.full(out_shape, -1, dtype=np.int64)
    for index in np.ndindex(*out_shape):
        dout = np.zeros(out_shape, dtype=dtype)
        dout[index] = 1
        hit = np.flatnonzero(backward(dout, cache))
        if hit.size:
            found[index] = hit[0]
    return found


def draw_grid(ax, values, fmt="{:g}", cmap="Greys", vmin=None, vmax=None, annotate=True,
              fontsize=9):
    """Draw values: (H, W) as a heat map with one square per cell and, if `annotate`, each value
    written in its cell (white on dark cells). cmap=None draws plain white cells, for pictures
    whose colours come from what is drawn on top. Rows and columns are labelled with their indices.
    """
    values = np.asarray(values)
    if cmap is None:
        image = ax.imshow(np.zeros(values.shape), cmap="Greys", vmin=0, vmax=1)
    else:
        image = ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax)
    if annotate:
        for (row, col), v in np.ndenumerate(values):
            r, g, b, _ = image.cmap(image.norm(0 if cmap is None else v))
            dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5
            # v + 0 turns a -0.0 (0 times a negative number) into 0.0: no "-0.00" on the picture
            ax.text(col, row, fmt.format(v + 0), ha="center", va="center", fontsize=fontsize,
                    color="white" if dark else "black")
    height, width = values.shape
    step = 1 if max(height, width) <= 20 else 5             # keep the labels of large maps legible
    ax.set_xticks(np.arange(0, width, step))
    ax.set_yticks(np.arange(0, height, step))
    ax.set_xticks(np.arange(width + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(height + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="0.75", linewidth=0.5)
    ax.tick_params(which="both", length=0, labelsize=7)
    ax.tick_params(top=True, labeltop=True, bottom=False, labelbottom=False)


def draw_cells(ax, rows, cols, color, fill_alpha=0.25, inset=0.0, linewidth=2.0):
    """Shade and outline the block of cells rows[0]:rows[1], cols[0]:cols[1] (ends exclusive).

    The fill is translucent, so a cell under two blocks shows both colours mixed: that is how
    overlapping bins look. `inset` pulls the outline inwards so neighbouring outlines stay apart.
    """
    (r0, r1), (c0, c1) = rows, cols
    corner = (c0 - 0.5 + inset, r0 - 0.5 + inset)
    size = (c1 - c0 - 2 * inset, r1 - r0 - 2 * inset)
    ax.add_patch(Rectangle(corner, *size, facecolor=color, alpha=fill_alpha, edgecolor="none"))
    ax.add_patch(Rectangle(corner, *size, facecolor="none", edgecolor=color, linewidth=linewidth))


def mark_winners(ax, flat_indices, colors, width):
    """Ring each winning cell. flat_indices: row * width + col of each winner (-1: none, skipped);
    colors: one per winner. A cell that wins several times gets one ring per win, each larger."""
    rings = {}
    for flat, color in zip(np.ravel(flat_indices), colors):
        if flat < 0:
            continue
        row, col = divmod(int(flat), width)
        count = rings.get((row, col), 0)
        rings[(row, col)] = count + 1
        ax.add_patch(Circle((col, row), 0.3 + 0.09 * count, fill=False, edgecolor=color,
                            linewidth=2.2))


def draw_projected_roi(ax, roi, spatial_scale, map_shape, dtype=np.float64, color="black",
                       linewidth=3.0):
    """Outline where roi = (x1, y1, x2, y2), in image pixels, lands on a map_shape = (H, W) map.

    The region is RoI pooling's own projection: `roi_bins` with a single 1x1 bin covers exactly
    the rounded region (clipped to the map). Returns its rows (start, end) and columns (start, end),
    ends exclusive.
    """
    rois = np.array([[0, *roi]], dtype=dtype)
    hstart, hend, wstart, wend = roi_bins(rois, spatial_scale, (1, 1), *map_shape, np.dtype(dtype))
    rows, cols = (int(hstart[0, 0]), int(hend[0, 0])), (int(wstart[0, 0]), int(wend[0, 0]))
    ax.add_patch(Rectangle((cols[0] - 0.5, rows[0] - 0.5), cols[1] - cols[0], rows[1] - rows[0],
                           facecolor="none", edgecolor=color, linewidth=linewidth, clip_on=False))
    return rows, cols


def draw_roi_pool(ax, features_2d, roi, output_size, spatial_scale, annotate=True, fmt="{:g}",
                  cmap=None):
    """RoI pooling of one RoI on one feature plane, as a picture.

    features_2d: (H, W), float32 or float64 (the bins are computed in that dtype, as the layer
    does); roi: (x1, y1, x2, y2) in image pixels; output_size: (PH, PW) or an int; spatial_scale:
    feature cells per image pixel.

    Draws the map (values written in the cells when `annotate`; cmap=None leaves the cells white,
    a colour map such as "Greys" shades them by value), the projected RoI in black, every
    bin as a translucent rectangle in its own colour (a row or column shared by two bins shows
    both colours) and a ring round each bin's winning cell, in the bin's colour.
    Returns the pooled values: (PH, PW).
    """
    features = np.asarray(features_2d)
    height, width = features.shape
    rois = np.array([[0, *roi]], dtype=features.dtype)
    out, cache = roi_pool_forward(features[None, None], rois, output_size, spatial_scale)
    argmax = winners(roi_pool_backward, cache, out.shape, out.dtype)[0, 0]   # (PH, PW), -1: empty
    ph_count, pw_count = argmax.shape
    hstart, hend, wstart, wend = roi_bins(rois, spatial_scale, (ph_count, pw_count), height, width,
                                          features.dtype)
    draw_grid(ax, features, fmt=fmt, cmap=cmap, annotate=annotate)
    draw_projected_roi(ax, roi, spatial_scale, features.shape, dtype=features.dtype)
    colors = []
    for ph in range(ph_count):
        for pw in range(pw_count):
            color = bin_color(ph, pw, pw_count)
            colors.append(color)
            draw_cells(ax, (hstart[0, ph], hend[0, ph]), (wstart[0, pw], wend[0, pw]), color,
                       inset=0.06 + 0.05 * ((ph + pw) % 2))
    mark_winners(ax, argmax, colors, width)
    return out[0, 0]


def draw_pooled(ax, pooled, fmt="{:g}"):
    """The pooled output (PH, PW), each cell tinted with its bin's colour (as in draw_roi_pool)."""
    pooled = np.asarray(pooled)
    draw_grid(ax, pooled, fmt=fmt, cmap=None, fontsize=12)
    pw_count = pooled.shape[1]
    for (ph, pw), _ in np.ndenumerate(pooled):
        draw_cells(ax, (ph, ph + 1), (pw, pw + 1), bin_color(ph, pw, pw_count), inset=0.04,
                   linewidth=3.0)


def draw_maxpool(ax, x_2d, size, stride, annotate=True, fmt="{:g}", cmap=None):
    """Max pooling of one plane x_2d: (H, W) with size x size windows moved by `stride`.

    Each window is a translucent rectangle in its own colour (overlapping windows mix their
    colours), and its winner (see `winners`) is ringed in that colour.
    Returns the pooled values: (H', W').
    """
    x = np.asarray(x_2d)
    out, cache = maxpool2d_forward(x[None, None], size, stride)
    argmax = winners(maxpool2d_backward, cache, out.shape, out.dtype)[0, 0]   # (H', W')
    out_h, out_w = argmax.shape
    draw_grid(ax, x, fmt=fmt, cmap=cmap, annotate=annotate)
    colors = []
    for i in range(out_h):
        for j in range(out_w):
            colors.append(bin_color(i, j, out_w))
            draw_cells(ax, (i * stride, i * stride + size), (j * stride, j * stride + size),
                       colors[-1], inset=0.06 + 0.05 * ((i + j) % 2))
    mark_winners(ax, argmax, colors, x.shape[1])
    return out[0, 0]


def draw_im2col(ax_image, ax_cols, image, kernel_size, stride=1, pad=0):
    """im2col of one small plane: image: (H, W); kernel KH x KW = kernel_size (an int or a pair).

    Left (ax_image): the zero-padded image with every patch outlined in its own colour.
    Right (ax_cols): the column matrix cols: (H'*W', KH*KW) from `minifrcnn.layers.conv.im2col`,
    each row tinted with the colour of the patch it was copied from.
    Returns cols.
    """
    kh, kw = (kernel_size, kernel_size) if np.isscalar(kernel_size) else kernel_size
    image = np.asarray(image)
    cols = im2col(image[None, None], kh, kw, stride, pad)
    out_w = conv_output_size(image.shape[1], kw, stride, pad)
    draw_grid(ax_image, np.pad(image, pad), cmap=None)
    draw_grid(ax_cols, cols, cmap=None)
    for k in range(cols.shape[0]):
        i, j = divmod(k, out_w)
        color = BIN_COLORS[k % len(BIN_COLORS)]
        draw_cells(ax_image, (i * stride, i * stride + kh), (j * stride, j * stride + kw), color,
                   fill_alpha=0.12, inset=0.05 + 0.07 * (k % 4))
        draw_cells(ax_cols, (k, k + 1), (0, cols.shape[1]), color, fill_alpha=0.2, inset=0.05)
    ax_image.set_title(f"input {image.shape[0]}x{image.shape[1]}, pad {pad}: {cols.shape[0]} patches")
    ax_cols.set_title(f"cols {cols.shape}: one row per patch")
    ax_cols.set_xlabel("column = weight index (c, kh, kw)")
    ax_cols.set_ylabel("row = output pixel")
    return cols


def draw_thread_blocks(ax, block_index, thread_index, threads_per_block, row_labels=None,
                       col_labels=None):
    """Which GPU thread computes which output element, for a kernel launched on a 1-D grid with
    one thread per element (every kernel of minifrcnn.numba_cuda).

    block_index, thread_index: (rows, cols), the block (cuda.blockIdx.x) and the thread within
    its block (cuda.threadIdx.x) that wrote each element, laid out as the caller wants the output
    shown (e.g. an (R, C, PH, PW) output as R*C rows of PH*PW); a kernel can report them itself.
    Each cell is tinted with its block's colour and shows the thread's global index
    t = block * threads_per_block + thread. The threads of the last block that have no element
    (t past the end: they return at once) are drawn hatched in an extra row below.
    Returns the number of those idle threads.
    """
    block_index, thread_index = np.asarray(block_index), np.asarray(thread_index)
    rows, cols = block_index.shape
    t = block_index * threads_per_block + thread_index
    blocks = int(block_index.max()) + 1
    idle = blocks * threads_per_block - block_index.size
    idle_rows = -(-idle // cols)
    draw_grid(ax, np.zeros((rows + idle_rows, cols)), cmap=None, annotate=False)
    for (row, col), block in np.ndenumerate(block_index):
        color = BIN_COLORS[block % len(BIN_COLORS)]
        ax.add_patch(Rectangle((col - 0.5, row - 0.5), 1, 1, facecolor=color, alpha=0.45,
                               edgecolor="white", linewidth=1.5))
        ax.text(col, row, str(t[row, col]), ha="center", va="center", fontsize=8)
    last_color = BIN_COLORS[(blocks - 1) % len(BIN_COLORS)]
    for k in range(idle):
        row, col = rows + k // cols, k % cols
        ax.add_patch(Rectangle((col - 0.5, row - 0.5), 1, 1, facecolor="none", hatch="///",
                               edgecolor=last_color, linewidth=0.8))
        ax.text(col, row, str(block_index.size + k), ha="center", va="center", fontsize=8,
                color="0.45")
    if row_labels is not None:
        ax.set_yticks(np.arange(rows + idle_rows),
                      list(row_labels) + ["idle"] * idle_rows)
    if col_labels is not None:
        ax.set_xticks(np.arange(cols), list(col_labels))
    handles = [Rectangle((0, 0), 1, 1, facecolor=BIN_COLORS[b % len(BIN_COLORS)], alpha=0.45)
               for b in range(blocks)]
    ax.legend(handles, [f"block {b}" for b in range(blocks)], loc="upper left",
              bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
    return idle


def draw_boxes(ax, image, boxes, labels=None, difficult=None, color="yellow", linewidth=2.0):
    """Show image (H, W, 3) uint8 with boxes (G, 4) (x1, y1, x2, y2), 0-based inclusive, on top.

    labels: G strings written at each box's top-left corner (None: no text); difficult: (G,)
    bool, those boxes drawn dashed; color: one colour for all boxes or a list of G colours.
    A box covers whole pixels, so its outline runs along the outer edges of pixels x1..x2 and
    y1..y2 (x1 - 0.5 to x2 + 0.5 on the axes of imshow, where pixel x is centred on x).
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    colors = [color] * len(boxes) if isinstance(color, str) else list(color)
    dashed = np.zeros(len(boxes), bool) if difficult is None else np.asarray(difficult, bool)
    ax.imshow(image)
    _outline(ax, boxes, colors, ["--" if d else "-" for d in dashed], linewidth)
    if labels is not None:
        for (x1, y1, _, _), label, box_color in zip(boxes, labels, colors):
            ax.text(x1 - 0.5, y1 - 1.5, label, color="black", fontsize=7, va="bottom",
                    bbox={"facecolor": box_color, "edgecolor": "none", "pad": 1, "alpha": 0.85})
    ax.set_xticks([])
    ax.set_yticks([])


def label_colors(labels, rng):
    """A label map (H, W) of regions 0 .. R - 1 as an (H, W, 3) uint8 picture, one random colour
    per region drawn from rng (np.random.Generator), so neighbouring regions stand apart."""
    labels = np.asarray(labels)
    palette = rng.integers(0, 256, size=(int(labels.max()) + 1, 3), dtype=np.uint8)
    return palette[labels]


def roi_pool_figure():
    """The seed's example A at spatial_scale 1: a RoI of 5 rows by 7 columns on an 8x8 map,
    pooled to 2x2. bin_h = 5/2 = 2.5 and bin_w = 7/2 = 3.5, so every bin is 3x4 cells and the bins
    share one row and one column. The cell on the shared column wins both top bins.

    Returns a Figure of 9 x 4.5 inches (900 x 450 pixels at 100 dpi): the map with its bins on
    the left, the pooled 2x2 output on the right.
    """
    # Distinct values (no ties); seed 1 gives the two bottom bins different winners.
    features = np.random.default_rng(1).permutation(64).reshape(8, 8).astype(np.float64)
    features[3, 4] = 99                      # on the column both top bins share: it wins twice
    roi = (1, 2, 7, 6)                       # (x1, y1, x2, y2): rows 2-6, columns 1-7
    fig = Figure(figsize=(9, 4.5), dpi=100, layout="constrained")
    ax_map, ax_out = fig.subplots(1, 2, width_ratios=[2.1, 1])
    pooled = draw_roi_pool(ax_map, features, roi, (2, 2), 1.0)
    ax_map.set_title("RoI 5x7 cells (black), 2x2 bins of 3x4: they share row 4 and column 4\n"
                     "rings: each bin's max; the cell at row 3, column 4 wins both top bins", fontsize=10)
    draw_pooled(ax_out, pooled)
    ax_out.set_title("RoI pooling output (2x2)", fontsize=10)
    return fig


def class_color(label):
    """The colour of class index `label` (>= 1), the same in every detection picture."""
    return BIN_COLORS[(int(label) - 1) % len(BIN_COLORS)]


# Detection labels are at least this many pixels high in the saved picture, whatever its size.
LABEL_PIXELS = 12
LABEL_PAD_PIXELS = 2          # the coloured margin round a label's text


def label_fontsize(dpi, pixels=LABEL_PIXELS):
    """The font size in points whose em is `pixels` pixels high at `dpi` (a point is 1/72 inch)."""
    return pixels * 72 / dpi


def _renderer(fig):
    # Only a renderer knows how large a text is. A Figure made without pyplot has no canvas
    # that can draw until it is given one; a pyplot or notebook figure already has it.
    if not hasattr(fig.canvas, "get_renderer"):
        FigureCanvasAgg(fig)
    return fig.canvas.get_renderer()


def _overlaps(a, b):
    """Whether rectangles a and b, each (x0, y0, x1, y1), share more than an edge."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def place_label(box, size, bounds, taken):
    """Where a label of `size` (w, h) goes for `box`, without covering a rectangle of `taken`.

    All in display pixels, y upwards, rectangles as (x0, y0, x1, y1): box is the detection,
    bounds the axes (a label never leaves it, so it never reaches a title outside it).
    Greedy, first fit: just above the box, just inside its top, just below it, then one label
    height at a time further down, then further up. Returns the rectangle chosen, or None when
    there is no free place at all.
    """
    w, h = size
    x0 = min(max(box[0], bounds[0]), bounds[2] - w)
    tops = [box[3] + h, box[3], box[1]]
    step = 1
    while box[3] - step * h >= bounds[1] + h or box[3] + step * h <= bounds[3]:
        tops += [box[3] - step * h, box[3] + (step + 1) * h]
        step += 1
    for top in tops:
        rect = (x0, top - h, x0 + w, top)
        inside = (bounds[0] <= rect[0] and rect[2] <= bounds[2] and bounds[1] <= rect[1]
                  and rect[3] <= bounds[3])
        if inside and not any(_overlaps(rect, other) for other in taken):
            return rect
    return None


def draw_detections(ax, image, detections, class_names=None, score_threshold=0.5,
                    ground_truth=None):
    """Show image (H, W, 3) uint8 with the detections whose score is >= score_threshold.

    detections: a minifrcnn.detect.Detections (boxes (D, 4), scores (D,), labels (D,) class
    indices); class_names: the names of the class indices (None: detections.class_names);
    ground_truth: None, or (boxes (G, 4), labels (G,)) of the image's objects, drawn dashed in
    their class's colour so a missed object shows as a dashed box with no solid one on it.
    Each detection is drawn in its class's colour (class_color) and labelled "class 0.93" in
    text LABEL_PIXELS high at the figure's dpi. Labels are placed best score first, each where
    it covers no earlier label (place_label); one that finds no room is left out. Call this
    once the axes have their final size: the labels are placed in pixels.
    Returns the number of detections drawn.
    """
    if class_names is None:
        class_names = detections.class_names
    ax.imshow(image)
    ax.set_xticks([])
    ax.set_yticks([])
    if ground_truth is not None:
        gt_boxes, gt_labels = ground_truth
        _outline(ax, gt_boxes, [class_color(c) for c in gt_labels], ["--"] * len(gt_labels),
                 linewidth=1.5)
    shown = np.flatnonzero(np.asarray(detections.scores) >= score_threshold)
    labels = np.asarray(detections.labels)[shown]
    scores = np.asarray(detections.scores)[shown]
    boxes = np.asarray(detections.boxes, np.float64).reshape(-1, 4)[shown]
    _outline(ax, boxes, [class_color(c) for c in labels], ["-"] * len(labels))

    fig = ax.figure
    renderer = _renderer(fig)
    ax.apply_aspect()                           # imshow's equal aspect fixes the axes' size now
    to_pixels = ax.transData
    bounds = ax.get_window_extent(renderer).extents
    fontsize = label_fontsize(fig.dpi)
    pad = LABEL_PAD_PIXELS
    taken = []
    for box, label, score in zip(boxes, labels, scores):
        text = ax.text(0, 0, f"{class_names[label]} {score:.2f}", color="black",
                       fontsize=fontsize, ha="left", va="bottom",
                       bbox={"facecolor": class_color(label), "edgecolor": "none",
                             "pad": pad * 72 / fig.dpi, "alpha": 0.85})
        extent = text.get_window_extent(renderer)
        # Display y runs upwards, image rows downwards: the box's top edge is its y1 - 0.5.
        (left, top), (right, bottom) = to_pixels.transform([(box[0] - 0.5, box[1] - 0.5),
                                                            (box[2] + 0.5, box[3] + 0.5)])
        rect = place_label((left, bottom, right, top),
                           (extent.width + 2 * pad, extent.height + 2 * pad), bounds, taken)
        if rect is None:
            text.remove()
            continue
        taken.append(rect)
        text.set_position(to_pixels.inverted().transform((rect[0] + pad, rect[1] + pad)))
    return len(shown)


def _outline(ax, boxes, colors, linestyles, linewidth=2.0):
    """Outline boxes (G, 4) (x1, y1, x2, y2), 0-based inclusive, with one colour and one line
    style ("-", "--") each. A box covers whole pixels, so its outline runs along the outer edges
    of pixels x1..x2 and y1..y2 (x1 - 0.5 to x2 + 0.5 on the axes of imshow)."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    widths, heights = box_sizes(boxes)
    for (x1, y1, _, _), width, height, color, style in zip(boxes, widths, heights, colors,
                                                           linestyles):
        ax.add_patch(Rectangle((x1 - 0.5, y1 - 0.5), width, height, facecolor="none",
                               edgecolor=color, linewidth=linewidth, linestyle=style))


def _detections_legend(fig, score_threshold, ground_truth):
    """The short legend under the pictures: what a solid and a dashed box mean."""
    handles = [Line2D([], [], color="0.3", linewidth=2.0,
                      label=f"detection (score >= {score_threshold:g}), class and score")]
    if ground_truth:
        handles.append(Line2D([], [], color="0.3", linewidth=1.5, linestyle="--",
                              label="ground truth (dashed: alone, a missed object)"))
    fig.legend(handles=handles, loc="lower center", ncols=len(handles), frameon=False,
               fontsize=label_fontsize(fig.dpi))


def detections_figure(images, detections, titles=None, ground_truths=None, score_threshold=0.5,
                      title=None, columns=3, panel_inches=4.0, dpi=100):
    """A Figure of one or more images with their detections (draw_detections), a legend below.

    images: list of (H, W, 3) uint8; detections: one Detections per image; titles: one short
    text per image, or None; ground_truths: one (boxes, labels) or None per image, or None;
    title: the figure's title. Panels sit `columns` to a row, each panel_inches wide, with
    room above for the titles and below for the legend, so no label reaches either.
    """
    count = len(images)
    columns = min(columns, count)
    rows = -(-count // columns)
    aspect = max(image.shape[0] / image.shape[1] for image in images)
    header, footer, gap = (0.6 if title else 0.2), 0.45, (0.35 if titles else 0.1)
    width = columns * panel_inches
    height = rows * (panel_inches * aspect + gap) + header + footer
    fig = Figure(figsize=(width, height), dpi=dpi)
    if title:
        fig.suptitle(title, y=1 - 0.15 / height, va="top", fontsize=label_fontsize(dpi, 14))
    ground_truths = ground_truths or [None] * count
    for index, (image, found, truth) in enumerate(zip(images, detections, ground_truths)):
        row, column = divmod(index, columns)
        top = height - header - row * (panel_inches * aspect + gap) - gap
        # A margin of 2 % of the width on each side keeps neighbouring pictures apart.
        ax = fig.add_axes(((column + 0.02) / columns, (top - panel_inches * aspect) / height,
                           0.96 / columns, panel_inches * aspect / height))
        if titles:
            ax.set_title(titles[index], fontsize=label_fontsize(dpi))
        draw_detections(ax, image, found, score_threshold=score_threshold, ground_truth=truth)
    _detections_legend(fig, score_threshold, any(t is not None for t in ground_truths))
    return fig


def plot_precision_recall(ax, result):
    """Precision against recall, one curve per class, from the result of
    minifrcnn.evaluate.evaluate_detections; the legend gives each class's AP. A class without
    objects (AP NaN) has no curve and "AP n/a" in the legend."""
    for index, (name, ap) in enumerate(result["ap"].items(), start=1):
        recall, precision = result["recall"][name], result["precision"][name]
        label = f"{name} (AP n/a)" if np.isnan(ap) else f"{name} (AP {ap:.3f})"
        ax.plot(recall, precision, color=class_color(index), label=label)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1.0)
    ax.set_ylim(0, 1.02)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)


def precision_recall_figure(result, title):
    """A Figure of every class's precision-recall curve (plot_precision_recall) under `title`."""
    fig = Figure(figsize=(6, 5), dpi=100, layout="constrained")
    plot_precision_recall(fig.add_subplot(), result)
    fig.axes[0].set_title(title, fontsize=10)
    return fig


def recall_figure(result):
    """Proposal recall against the number of proposals (log scale), one curve per IoU threshold,
    from minifrcnn.proposals.cache.proposal_recall's result."""
    fig = Figure(figsize=(6, 4), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    for threshold, row in zip(result["thresholds"], result["recall"]):
        ax.plot(result["counts"], row, marker="o", label=f"IoU >= {threshold:g}")
    ax.set_xscale("log")
    ax.set_xlabel("number of proposals N (first N per image)")
    ax.set_ylabel("recall")
    ax.set_ylim(0, 1.02)
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title(f"Proposal recall: {result['objects']} objects, {result['images']} images, "
                 f"{result['mean_boxes']:.0f} boxes/image", fontsize=10)
    ax.legend()
    return fig


LOSS_NAMES = {"loss": "multi-task loss", "loss_cls": "classification (log loss)",
              "loss_box": "box regression (smooth L1)"}


def loss_figure(history, smooth=50):
    """The training curve from a minifrcnn.train.History: total, classification and box loss per
    iteration, faint, with a moving average over `smooth` iterations on top, and the
    learning-rate steps marked."""
    fig = Figure(figsize=(7, 4), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    x = np.asarray(history.iteration)
    for name, color in (("loss", "black"), ("loss_cls", "tab:blue"), ("loss_box", "tab:orange")):
        y = np.asarray(getattr(history, name))
        ax.plot(x, y, color=color, alpha=0.2, linewidth=0.8)
        if len(y) >= smooth:
            kernel = np.ones(smooth) / smooth
            ax.plot(x[smooth - 1:], np.convolve(y, kernel, mode="valid"), color=color,
                    label=LOSS_NAMES[name])
    steps = np.flatnonzero(np.diff(np.asarray(history.lr)) != 0)
    for step in steps:
        ax.axvline(x[step + 1], color="grey", linestyle="--", linewidth=1)
        ax.text(x[step + 1], ax.get_ylim()[1] * 0.95, " lr x0.1", color="grey", va="top")
    ax.set_xlabel("iteration (N=2 images, R=128 RoIs each)")
    ax.set_ylabel("loss")
    ax.set_title("Fast R-CNN training")
    if len(x) >= smooth:
        ax.legend()
    ax.grid(alpha=0.3)
    return fig


def save_figure(fig, path):
    """Write fig to path (the format from its extension) at the figure's own dpi, through the
    Agg canvas: no pyplot state is touched, so a notebook's own figures are left alone."""
    _renderer(fig)
    fig.savefig(path)


if __name__ == "__main__":
    import sys

    import matplotlib

    matplotlib.use("Agg")
    roi_pool_figure().savefig(sys.argv[1] if len(sys.argv) > 1 else "roi_pooling.png")
