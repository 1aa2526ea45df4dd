"""The exercises, in teaching order: what a student writes, and where it is taught."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Exercise:
    """One exercise: the functions a student writes (signatures as the library's functions of
    the same name), the lesson that teaches it and the notebook (lessons/exercises/) that asks
    for it."""

    name: str
    title: str
    functions: tuple      # signatures, e.g. "conv2d_forward(x, w, b, stride, pad) -> (out, cache)"
    lesson: str           # the numbered lesson, e.g. "01_conv_relu_maxpool"
    notebook: str         # e.g. "01_layers.ipynb"

    @property
    def function_names(self):
        return tuple(signature.split("(", 1)[0] for signature in self.functions)


EXERCISES = [
    Exercise("numerical_gradient", "The gradient check itself: central differences",
             ("numerical_gradient(f, x, h) -> grad",),
             "01_conv_relu_maxpool", "01_layers.ipynb"),
    Exercise("relu", "ReLU, forward and backward",
             ("relu_forward(x) -> (out, cache)", "relu_backward(dout, cache) -> dx"),
             "01_conv_relu_maxpool", "01_layers.ipynb"),
    Exercise("linear", "A fully connected layer, forward and backward",
             ("linear_forward(x, w, b) -> (out, cache)",
              "linear_backward(dout, cache) -> (dx, dw, db)"),
             "01_conv_relu_maxpool", "01_layers.ipynb"),
    Exercise("conv2d", "2-D convolution with stride and padding, forward and backward",
             ("conv2d_forward(x, w, b, stride, pad) -> (out, cache)",
              "conv2d_backward(dout, cache) -> (dx, dw, db)"),
             "01_conv_relu_maxpool", "01_layers.ipynb"),
    Exercise("maxpool2d", "Max pooling with overlapping windows, forward and backward",
             ("maxpool2d_forward(x, size, stride) -> (out, cache)",
              "maxpool2d_backward(dout, cache) -> dx"),
             "01_conv_relu_maxpool", "01_layers.ipynb"),
    Exercise("roi_pool", "RoI max pooling, forward and backward",
             ("roi_pool_forward(features, rois, output_size, spatial_scale) -> (out, cache)",
              "roi_pool_backward(dout, cache) -> dfeatures"),
             "02_roi_pooling", "02_roi_pool.ipynb"),
    Exercise("softmax_cross_entropy", "The softmax log loss and its gradient",
             ("softmax_cross_entropy(scores, labels) -> (loss, dscores)",),
             "03_multitask_loss", "03_losses.ipynb"),
    Exercise("smooth_l1_loss", "Smooth L1 loss for box regression",
             ("smooth_l1_loss(pred, target, inside_weights, outside_weights, sigma) -> (loss, dpred)",),
             "03_multitask_loss", "03_losses.ipynb"),
    Exercise("iou", "Intersection over union of two sets of boxes",
             ("iou(a, b) -> overlaps",),
             "05_data_and_proposals", "04_boxes_and_sampling.ipynb"),
    Exercise("encode_decode", "Box-regression targets and their inverse",
             ("encode(rois, gt) -> deltas", "decode(rois, deltas) -> boxes"),
             "06_sampling_and_training", "04_boxes_and_sampling.ipynb"),
    Exercise("sample_rois", "One image's share of the minibatch: 25 % foreground",
             ("sample_rois(entry, rois_per_image, fg_fraction, rng, bg_lo) -> (keep, labels)",),
             "06_sampling_and_training", "04_boxes_and_sampling.ipynb"),
    Exercise("nms", "Greedy non-maximum suppression",
             ("nms(boxes, scores, threshold) -> keep",),
             "07_detection_and_map", "05_nms_and_map.ipynb"),
    Exercise("voc_ap", "Average precision, 11-point and area under the curve",
             ("voc_ap(recall, precision, use_07_metric) -> ap",),
             "07_detection_and_map", "05_nms_and_map.ipynb"),
    Exercise("truncated_svd", "Truncated SVD of a fully connected layer",
             ("truncated_svd(w, rank) -> (w_first, w_second)",),
             "08_truncated_svd", "06_truncated_svd.ipynb"),
]

BY_NAME = {exercise.name: exercise for exercise in EXERCISES}


def exercise(name):
    """The Exercise called `name`; a ValueError listing the names for an unknown one."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise ValueError(f"no exercise called {name!r}; the exercises are: "
                         f"{', '.join(BY_NAME)}") from None
