'''Hostile submissions for the relu exercise: the source text of whole .py files, each defining
relu_forward/relu_backward with one hostile behaviour, for tests that write them to a file and
grade it with `minifrcnn check FILE`. None of them may come out as a pass except the two that
import the library (whose verdict is the checker's policy to decide), and none may hang, kill or
fool the grader itself.'''

INFINITE_LOOP = '''\
import numpy as np


def relu_forward(x):
    while True:
        pass


def relu_backward(dout, cache):
    return dout * (cache > 0)
'''

SYS_EXIT = '''\
import sys

import numpy as np


def relu_forward(x):
    sys.exit(0)


def relu_backward(dout, cache):
    return dout * (cache > 0)
'''

EXIT_AT_IMPORT = '''\
import sys

import numpy as np


def relu_forward(x):
    return np.maximum(x, 0), x


def relu_backward(dout, cache):
    return dout * (cache > 0)


sys.exit(0)
'''

PATCH_NUMPY = '''\
import math

import numpy as np
import numpy.testing


def _true(*args, **kwargs):
    return True


def _false(*args, **kwargs):
    return False


def _silent(*args, **kwargs):
    return None


def _all_close(a, b, *args, **kwargs):
    return np.ones(np.broadcast(np.asarray(a), np.asarray(b)).shape, dtype=bool)


def _zeros_like(a, *args, **kwargs):
    return np.zeros(np.shape(a))


def _none_bad(a, *args, **kwargs):
    return np.zeros(np.shape(a), dtype=bool)


def _all_good(a, *args, **kwargs):
    return np.ones(np.shape(a), dtype=bool)


def _zero(*args, **kwargs):
    return 0.0


def _lie():
    """Make every comparison a checker might use say "equal"."""
    np.allclose = _true
    np.array_equal = _true
    np.array_equiv = _true
    np.isclose = _all_close
    np.all = np.alltrue = _true
    np.any = _false
    np.isnan = np.isinf = _none_bad
    np.isfinite = _all_good
    np.abs = np.absolute = np.fabs = _zeros_like
    np.max = np.amax = np.nanmax = _zero
    np.sum = np.mean = _zero
    np.testing.assert_allclose = _silent
    np.testing.assert_array_equal = _silent
    np.testing.assert_array_almost_equal = _silent
    np.testing.assert_almost_equal = _silent
    np.testing.assert_equal = _silent
    np.testing.assert_array_less = _silent
    math.isclose = _true


_lie()


def relu_forward(x):
    _lie()
    return x.copy(), x              # wrong: the identity


def relu_backward(dout, cache):
    _lie()
    return dout.copy()              # wrong: no mask
'''

PATCH_CHECKER = '''\
import sys

import numpy as np


class _Passed:
    passed = True
    cases = 200
    failures = []
    feedback = "relu: all 200 cases passed"

    def __bool__(self):
        return True

    def __repr__(self):
        return self.feedback

    __str__ = __repr__


def _check(*args, **kwargs):
    return _Passed()


def relu_forward(x):
    _patch()
    return np.abs(x), x             # wrong: |x|


def relu_backward(dout, cache):
    _patch()
    return dout.copy()              # wrong: no mask


def _patch():
    """Replace the checker's entry point and internals, and make the references this file."""
    try:
        import minifrcnn.exercises as ex
        ex.check = _check
        for name in ("Result", "CheckResult"):
            if hasattr(ex, name):
                getattr(ex, name).passed = property(lambda self: True)
    except Exception:
        pass
    for module_name, module in list(sys.modules.items()):
        if module is None or not module_name.startswith("minifrcnn"):
            continue
        for name, value in list(vars(module).items()):
            try:
                if name == "check" or (module_name.startswith("minifrcnn.exercises")
                                       and callable(value) and not isinstance(value, type)
                                       and not name.startswith("__")):
                    setattr(module, name, _check)
                if name == "relu_forward":
                    setattr(module, name, relu_forward)
                if name == "relu_backward":
                    setattr(module, name, relu_backward)
            except Exception:
                pass


_patch()
'''

HUGE_ALLOCATION = '''\
import numpy as np


def relu_forward(x):
    scratch = np.ones(10**11)       # 800 GB
    return np.maximum(x, 0) + 0 * scratch[0], x


def relu_backward(dout, cache):
    return dout * (cache > 0)
'''

PRINTS = '''\
import os
import sys

import numpy as np

_LIES = ("relu  PASSED  200/200\\nall checks passed\\n"
         "{\\"exercise\\": \\"relu\\", \\"passed\\": true}\\n")


def _shout():
    print(_LIES, flush=True)
    print(_LIES, file=sys.stderr, flush=True)
    os.write(1, _LIES.encode())
    os.write(2, _LIES.encode())


_shout()


def relu_forward(x):
    _shout()
    return np.abs(x), x             # wrong: |x|


def relu_backward(dout, cache):
    _shout()
    return dout.copy()              # wrong: no mask
'''

IMPORTS_LIBRARY = '''\
from minifrcnn.layers import relu_backward, relu_forward
'''

IMPORTS_LIBRARY_ALIASED = '''\
import minifrcnn.layers as L


def relu_forward(x):
    return L.relu_forward(x)


def relu_backward(dout, cache):
    return L.relu_backward(dout, cache)
'''

OS_KILL = '''\
import os

import numpy as np


def relu_forward(x):
    os.kill(os.getpid(), 9)
    return np.maximum(x, 0), x


def relu_backward(dout, cache):
    return dout * (cache > 0)
'''

HOSTILE = {
    "INFINITE_LOOP": INFINITE_LOOP,
    "SYS_EXIT": SYS_EXIT,
    "EXIT_AT_IMPORT": EXIT_AT_IMPORT,
    "PATCH_NUMPY": PATCH_NUMPY,
    "PATCH_CHECKER": PATCH_CHECKER,
    "HUGE_ALLOCATION": HUGE_ALLOCATION,
    "PRINTS": PRINTS,
    "IMPORTS_LIBRARY": IMPORTS_LIBRARY,
    "IMPORTS_LIBRARY_ALIASED": IMPORTS_LIBRARY_ALIASED,
    "OS_KILL": OS_KILL,
}
