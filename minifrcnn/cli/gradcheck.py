"""`minifrcnn gradcheck`: every layer's backward pass against central differences, as a table."""

import numpy as np

from ..backend import BACKENDS
from ._common import fail, non_negative_int, positive_float, table


def add_commands(commands):
    p = commands.add_parser(
        "gradcheck",
        help="every layer against finite differences",
        description="Check every layer's hand-written backward pass against central finite "
        "differences in float64, on random shapes, with a random upstream gradient. Prints one "
        "row per check and exits non-zero if any fails. A row's numbers depend only on the seed "
        "and the row, so --layer shows the same numbers as the full run.",
    )
    p.add_argument("--seed", type=non_negative_int, default=0,
                   help="seed for shapes and values (default 0)")
    p.add_argument("--tol", type=positive_float, default=1e-6,
                   help="largest relative error that passes (default 1e-6)")
    p.add_argument("--layer", action="append", metavar="NAME",
                   help="check only this layer (repeatable), e.g. --layer roi_pool")
    p.add_argument("--backend", choices=BACKENDS, default="numpy",
                   help="whose layers to check: the NumPy reference (default), the Numba CPU "
                   "kernels or the CUDA kernels (their float64 versions)")
    p.set_defaults(run=run_gradcheck)


def run_gradcheck(args):
    from ..gradcheck import run_suite, suite_cases

    known = sorted({case.layer for case in suite_cases(np.random.default_rng(0))})
    unknown = sorted(set(args.layer or []) - set(known))
    if unknown:
        return fail("gradcheck", f"unknown layer {', '.join(unknown)}; choose from "
                                 f"{', '.join(known)}", status=2)
    try:
        results = run_suite(seed=args.seed, tol=args.tol, layers=args.layer, backend=args.backend)
    except ValueError as error:      # e.g. --backend cuda with no GPU
        return fail("gradcheck", error, status=2)
    rows = [(case.layer, case.shapes, f"{result.max_rel_error:.2e}",
             "pass" if result.passed else "FAIL") for case, result in results]
    print(f"Gradient check of the {args.backend} layers: analytic backward vs central differences, "
          f"float64, seed {args.seed}, tolerance {args.tol:.0e}\n")
    print("\n".join(table(("layer", "shapes", "max rel error", "result"), rows)))
    failed = [(case, result) for case, result in results if not result.passed]
    print(f"\n{len(results) - len(failed)} of {len(results)} checks passed")
    for case, result in failed:
        print(f"\n{case.layer} {case.shapes}:\n{result}")
    return 1 if failed else 0
