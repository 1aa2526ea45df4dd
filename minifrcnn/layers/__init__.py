"""The NumPy reference layers: the truth every faster twin is tested against.

Every layer is a hand-written pair: `*_forward(...) -> (out, cache)` and
`*_backward(dout, cache) -> gradients`. The losses return the loss and its gradients at once.
Arrays are float32 or float64 and come back in the dtype they came in.
"""

from .conv import conv2d_backward, conv2d_forward
from .dropout import dropout_backward, dropout_forward
from .linear import (factored_linear_backward, factored_linear_forward, linear_backward,
                     linear_forward)
from .maxpool import maxpool2d_backward, maxpool2d_forward
from .multitask import multitask_loss
from .relu import relu_backward, relu_forward
from .roi_pool import roi_pool_backward, roi_pool_forward
from .smooth_l1 import smooth_l1_loss
from .softmax_loss import softmax, softmax_cross_entropy

__all__ = [
    "conv2d_forward", "conv2d_backward",
    "relu_forward", "relu_backward",
    "maxpool2d_forward", "maxpool2d_backward",
    "linear_forward", "linear_backward",
    "factored_linear_forward", "factored_linear_backward",
    "dropout_forward", "dropout_backward",
    "roi_pool_forward", "roi_pool_backward",
    "softmax", "softmax_cross_entropy",
    "smooth_l1_loss",
    "multitask_loss",
]
