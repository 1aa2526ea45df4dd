"""Stochastic gradient descent with momentum, as Fast R-CNN trains (fast-rcnn-spec.md, "Training
recipe"): momentum 0.9, weight decay 0.0005 on weights only, biases at twice the learning rate.

For every trainable parameter w with gradient g, at learning rate lr:

    weights:  v <- momentum v + lr (g + weight_decay w)        w <- w - v
    biases:   v <- momentum v + 2 lr g                          b <- b - v

The velocity v is the optimiser's only state; a checkpoint saves it so training resumes exactly.
Parameters are updated in place, so a dict that shares arrays with a model updates the model.
"""

import numpy as np

MOMENTUM = 0.9
WEIGHT_DECAY = 0.0005
BIAS_LR_FACTOR = 2.0


def is_bias(key):
    """Parameters are named "<layer>.w" and "<layer>.b"."""
    return key.endswith(".b")


class SGD:
    """params: {name: array} updated in place; keys: the names to update (the trainable ones)."""

    def __init__(self, params, keys, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY):
        self.params = params
        self.keys = list(keys)
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.velocity = {key: np.zeros_like(params[key]) for key in self.keys}

    def step(self, grads, lr):
        """One update of every parameter in self.keys from grads {name: array}."""
        for key in self.keys:
            w, v, g = self.params[key], self.velocity[key], grads[key]
            if is_bias(key):
                step = (BIAS_LR_FACTOR * lr) * g
            else:
                step = lr * (g + self.weight_decay * w)
            v *= self.momentum
            v += step.astype(v.dtype, copy=False)
            w -= v
