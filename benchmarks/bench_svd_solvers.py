"""Which solver for truncated SVD: time and accuracy of rank-t factorisations of fc weights.

    python benchmarks/bench_svd_solvers.py [--out benchmarks/results] [--repeats 3] [--limit 300]
        [--quick]

`minifrcnn.svd.truncated_svd` factors a fully connected layer's weight W (out x in) as
w_second @ w_first with rank t. It claims to use the fastest solver whose error is within 1 % of
the optimum; this script measures the candidates and marks that one "chosen" per matrix.

Candidates, each a function (w, rank) -> (w_first (rank, in), w_second (out, rank)), all given
the same float32 matrix and all returning factors in float32 (the input's dtype); the column
"computes in" says what each converts the input to first:
- gesdd (library): `minifrcnn.svd.truncated_svd` itself, scipy.linalg.svd(lapack_driver="gesdd",
  full_matrices=False) in the input's dtype (float32), then truncated to the t largest.
- gesdd float64: the same on a float64 copy (the library's first version: is float64 needed?).
- gesvd: LAPACK's QR-iteration driver "gesvd", float64.
- svds arpack / propack / lobpcg: scipy.sparse.linalg.svds(k=t, solver=...) on the float32 matrix
  as it is (svds keeps the dtype), seeded, singular triplets sorted largest first. svds needs
  k < min(out, in); a solver that raises or fails has its error text recorded instead of a time.
- randomized: Halko, Martinsson & Tropp's range finder in float32: a Gaussian test matrix with
  t + 10 columns (oversampling p = 10, seeded), q = 2 power iterations re-orthonormalised with
  scipy.linalg.qr(mode="economic") after every product, B = Q^T W, gesdd of the small B.

Matrices (the benchmark's main question is VGG16's fc6 and fc7 at the paper's ranks):
- fc6 (4096 x 25088, t = 1024) and fc7 (4096 x 4096, t = 256) at VGG16's sizes, synthetic:
  W = U diag(s) V^T in float64, then rounded to float32, with U and V orthonormal columns (QR of
  seeded Gaussians) and a power-law spectrum s_i = (1 + i / 64)^-1, i = 0, 1, ...: flat for the
  first ~64 directions, then decaying like 1/i, slowly, as trained fc layers' spectra do. The
  spectrum is known, so the optimum (Eckart-Young) is sqrt(sum_{i >= t} s_i^2) without an SVD
  (the float32 rounding moves it by ~1e-7 relative). Building fc6 costs a QR of a 25088 x 4096
  matrix: tens of seconds to minutes, and a few GB of memory.
- The trained `small` model's fc6 (256 x 4608, t = 64) and fc7 (256 x 256, t = 16), from
  minifrcnn.pretrain.BUILTIN_MODELS["shapes"]; their optimum comes from scipy.linalg.svdvals in
  float64.

Error: ||W - w_second @ w_first||_F in float64; "excess error" is error / optimum - 1, in %.

Timing: each candidate runs on each matrix in a child process of its own (forked where the
platform allows; the matrix is handed over as a temporary .npy file, memory-mapped and copied
into memory before any timing), so that one running over `--limit` seconds can be stopped: it is
then recorded as "over N s" and not repeated. The median of `--repeats` runs is reported, after
one untimed warm-up on the small matrices (at most 2**21 elements) only. The error is computed
from the first timed run's factors, outside the timing. As everywhere in minifrcnn, `import
minifrcnn` makes OpenBLAS single-threaded, so LAPACK runs on one thread, as truncated_svd does
inside the library.

--quick: a 256 x 1024 synthetic matrix (t = 64) and the small model's two layers, 1 repeat, a
30 s limit: a smoke test of a few seconds. Every mode writes svd_solvers.md, .json and .png
into --out.
"""

import minifrcnn  # noqa: F401  (first: sets the thread-pool variables before NumPy starts)

import os

# PROPACK in svds was behind this switch in SciPy 1.8 to 1.10; later versions ignore it.
os.environ.setdefault("SCIPY_USE_PROPACK", "1")

import argparse  # noqa: E402
import inspect  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import scipy  # noqa: E402
import scipy.linalg  # noqa: E402
import scipy.sparse.linalg  # noqa: E402

from minifrcnn.backend import system_info  # noqa: E402
from minifrcnn.svd import truncated_svd  # noqa: E402

TOLERANCE = 0.01            # within 1 % of the optimum error
KNEE = 64                   # s_i = (1 + i / KNEE) ** -POWER
POWER = 1.0
SPECTRUM = f"s_i = (1 + i / {KNEE})^-{POWER:g}, i = 0, 1, ..."
OVERSAMPLE = 10             # randomized: p
POWER_ITERATIONS = 2        # randomized: q
SMALL = 2 ** 21             # matrices with at most this many elements get a warm-up run
SEED = 0


# ---------------------------------------------------------------------------------- candidates

def _truncate(u, s, vt, rank, dtype):
    """The factors of the t largest singular triplets (largest first), in `dtype`."""
    return ((s[:rank, None] * vt[:rank]).astype(dtype, copy=False),
            np.ascontiguousarray(u[:, :rank]).astype(dtype, copy=False))


def gesdd_library(w, rank):
    return truncated_svd(w, rank)


def gesvd(w, rank):
    u, s, vt = scipy.linalg.svd(w.astype(np.float64), full_matrices=False,
                                lapack_driver="gesvd", check_finite=False)
    return _truncate(u, s, vt, rank, w.dtype)


def gesdd_float64(w, rank):
    u, s, vt = scipy.linalg.svd(w.astype(np.float64), full_matrices=False,
                                lapack_driver="gesdd", check_finite=False)
    return _truncate(u, s, vt, rank, w.dtype)


def _svds(w, rank, solver):
    if rank >= min(w.shape):
        raise ValueError(f"svds needs k < min(out, in) = {min(w.shape)}, got k = {rank}")
    seed = ({"rng": np.random.default_rng(SEED)}
            if "rng" in inspect.signature(scipy.sparse.linalg.svds).parameters
            else {"random_state": np.random.default_rng(SEED)})
    u, s, vt = scipy.sparse.linalg.svds(w, k=rank, solver=solver, **seed)
    order = np.argsort(s)[::-1]
    return _truncate(u[:, order], s[order], vt[order], rank, w.dtype)


def svds_arpack(w, rank):
    return _svds(w, rank, "arpack")


def svds_propack(w, rank):
    return _svds(w, rank, "propack")


def svds_lobpcg(w, rank):
    return _svds(w, rank, "lobpcg")


def randomized(w, rank, oversample=OVERSAMPLE, power_iterations=POWER_ITERATIONS, seed=SEED):
    """Halko, Martinsson & Tropp (2011), algorithms 4.4 and 5.1, in w's dtype."""
    def orthonormal(a):
        return scipy.linalg.qr(a, mode="economic", check_finite=False)[0]

    rng = np.random.default_rng(seed)
    columns = min(rank + oversample, min(w.shape))
    omega = rng.standard_normal((w.shape[1], columns)).astype(w.dtype)
    q = orthonormal(w @ omega)
    for _ in range(power_iterations):
        q = orthonormal(w @ orthonormal(w.T @ q))
    b = q.T @ w                                                   # (t + p, in)
    ub, s, vt = scipy.linalg.svd(b, full_matrices=False, lapack_driver="gesdd",
                                 check_finite=False)
    return _truncate(q @ ub, s, vt, rank, w.dtype)


@dataclass(frozen=True)
class Candidate:
    function: object
    computes_in: str
    description: str


CANDIDATES = {
    "gesdd (library)": Candidate(gesdd_library, "float32",
                                 "minifrcnn.svd.truncated_svd: scipy.linalg.svd gesdd in the "
                                 "input's dtype, truncated"),
    "gesdd float64": Candidate(gesdd_float64, "float64",
                               "scipy.linalg.svd gesdd on a float64 copy, truncated"),
    "gesvd": Candidate(gesvd, "float64", "scipy.linalg.svd gesvd on a float64 copy, truncated"),
    "svds arpack": Candidate(svds_arpack, "float32",
                             "scipy.sparse.linalg.svds(k=t, solver='arpack') on the float32 input"),
    "svds propack": Candidate(svds_propack, "float32",
                              "scipy.sparse.linalg.svds(k=t, solver='propack') on the float32 "
                              "input"),
    "svds lobpcg": Candidate(svds_lobpcg, "float32",
                             "scipy.sparse.linalg.svds(k=t, solver='lobpcg') on the float32 input"),
    "randomized": Candidate(randomized, "float32",
                            f"Halko et al. range finder, p = {OVERSAMPLE}, q = {POWER_ITERATIONS} "
                            "(QR between products), gesdd of Q^T W; float32"),
}


# ------------------------------------------------------------------------------------ matrices

def frobenius_error(w, w_first, w_second, block=512):
    """||w - w_second @ w_first||_F in float64, a block of rows at a time (bounded memory)."""
    first = w_first.astype(np.float64)
    total = 0.0
    for i in range(0, w.shape[0], block):
        diff = w[i:i + block].astype(np.float64) - w_second[i:i + block].astype(np.float64) @ first
        total += float(np.vdot(diff, diff))
    return float(np.sqrt(total))


def synthetic(out, inputs, seed):
    """(W float32 (out, in), its singular values s (float64, largest first)): W = U diag(s) V^T
    built in float64 from orthonormal U, V (QR of seeded Gaussians) and the power-law SPECTRUM."""
    rng = np.random.default_rng(seed)
    n = min(out, inputs)
    s = (1 + np.arange(n) / KNEE) ** -POWER
    u = scipy.linalg.qr(rng.standard_normal((out, n)), mode="economic", overwrite_a=True,
                        check_finite=False)[0]
    v = scipy.linalg.qr(rng.standard_normal((inputs, n)), mode="economic", overwrite_a=True,
                        check_finite=False)[0]
    u *= s
    w = (u @ v.T).astype(np.float32)
    return w, s


def trained(layer):
    """(W float32, its singular values in float64) of the built-in trained `small` model."""
    from minifrcnn.model import FastRCNN
    from minifrcnn.pretrain import BUILTIN_MODELS

    w = FastRCNN.load(BUILTIN_MODELS["shapes"], backend="numpy").params[f"{layer}.w"]
    return w, scipy.linalg.svdvals(w.astype(np.float64), check_finite=False)


def matrices(quick):
    """[(name, source, rank, build)] with build() -> (W, singular values)."""
    small = [("fc6 small (trained)", "the built-in `small` model, trained on shapes", 64,
              lambda: trained("fc6")),
             ("fc7 small (trained)", "the built-in `small` model, trained on shapes", 16,
              lambda: trained("fc7"))]
    if quick:
        return [("synthetic 256x1024", f"synthetic, {SPECTRUM}", 64,
                 lambda: synthetic(256, 1024, seed=1))] + small
    return [("fc6 VGG16 size (synthetic)", f"synthetic, {SPECTRUM}", 1024,
             lambda: synthetic(4096, 25088, seed=6)),
            ("fc7 VGG16 size (synthetic)", f"synthetic, {SPECTRUM}", 256,
             lambda: synthetic(4096, 4096, seed=7))] + small


# ------------------------------------------------------------------------------------- running

def _worker(conn, path, name, rank, warmup, repeats):
    """In the child: load the matrix, run candidate `name`, report over `conn`:
    ("start",) before each run, then ("warm",) or ("time", s); ("error", e) after the first timed
    run; ("failed", text) on an exception; ("done", warnings) at the end."""
    try:
        w = np.array(np.load(path, mmap_mode="r"))
        function = CANDIDATES[name].function
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for run in range(-1 if warmup else 0, repeats):
                conn.send(("start",))
                start = time.perf_counter()
                w_first, w_second = function(w, rank)
                seconds = time.perf_counter() - start
                if run < 0:
                    conn.send(("warm",))
                    continue
                conn.send(("time", seconds))
                if run == 0:
                    if w_first.shape != (rank, w.shape[1]) or w_second.shape != (w.shape[0], rank):
                        raise ValueError(f"factors of shapes {w_first.shape} and {w_second.shape}")
                    conn.send(("error", frobenius_error(w, w_first, w_second)))
                del w_first, w_second
        notes = sorted({f"{c.category.__name__}: {' '.join(str(c.message).split())[:200]}"
                        for c in caught})
        conn.send(("done", notes))
    except Exception as exc:                                           # noqa: BLE001
        conn.send(("failed", f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
                   if str(exc) else type(exc).__name__))
    finally:
        conn.close()


def run_candidate(context, path, name, rank, warmup, repeats, limit):
    """{"times", "error", "status": ok | over limit | failed, "note"} of one candidate on the
    matrix saved at `path`, run in a child process stopped after `limit` s in any one run."""
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_worker, args=(sender, str(path), name, rank, warmup, repeats),
                            daemon=True)
    child.start()
    sender.close()
    result = {"times": [], "error": None, "status": "ok", "note": ""}
    running = False
    try:
        while True:
            if running and not receiver.poll(limit):
                result.update(status="over limit", note=f"over {limit:g} s")
                break
            try:
                message = receiver.recv()
            except EOFError:
                child.join()
                result.update(status="failed",
                              note=f"the child process died (exit code {child.exitcode})")
                break
            kind, running = message[0], message[0] == "start"
            if kind == "time":
                result["times"].append(message[1])
            elif kind == "error":
                result["error"] = message[1]
            elif kind == "failed":
                result.update(status="failed", note=message[1])
                break
            elif kind == "done":
                result["note"] = "; ".join(message[1])
                break
    finally:
        receiver.close()
        if child.is_alive():
            child.kill()
        child.join()
    return result


def measure_matrix(context, name, source, rank, build, repeats, limit, folder):
    """One matrix's row of results: every candidate, its median time, error and excess error."""
    start = time.perf_counter()
    w, s = build()
    built_s = time.perf_counter() - start
    optimum = float(np.sqrt(np.sum(s[rank:] ** 2)))
    norm = float(np.sqrt(np.sum(s ** 2)))
    path = Path(folder) / "w.npy"
    np.save(path, w)
    shape, size = w.shape, w.size
    del w
    warmup = size <= SMALL
    print(f"{name}: {shape[0]} x {shape[1]}, rank {rank}, optimum relative error "
          f"{optimum / norm:.4f} (built in {built_s:.1f} s)", flush=True)
    rows = []
    for candidate, spec in CANDIDATES.items():
        result = run_candidate(context, path, candidate, rank, warmup, repeats, limit)
        times = result["times"]
        row = {"candidate": candidate, "computes_in": spec.computes_in, "status": result["status"],
               "seconds": times, "median_s": statistics.median(times) if times else None,
               "error": result["error"],
               "excess_percent": (None if result["error"] is None
                                  else 100 * (result["error"] / optimum - 1)),
               "note": result["note"], "chosen": False}
        if row["status"] == "ok" and row["error"] is None:
            row["status"] = "failed"
        rows.append(row)
        print(f"  {candidate:16s} {_seconds(row):>12s}  excess {_excess(row):>10s}"
              + (f"  ({row['note']})" if row["note"] else ""), flush=True)
    path.unlink()
    accurate = [r for r in rows if r["status"] == "ok" and r["median_s"] is not None
                and r["excess_percent"] <= 100 * TOLERANCE]
    chosen = min(accurate, key=lambda r: r["median_s"]) if accurate else None
    if chosen is not None:
        chosen["chosen"] = True
    result = {"matrix": name, "source": source, "shape": list(shape), "rank": rank,
              "optimum": optimum, "frobenius_norm": norm, "optimum_relative": optimum / norm,
              "warmup": warmup, "build_s": built_s, "rows": rows,
              "chosen": chosen["candidate"] if chosen else None}
    result["verdict"] = verdict(result)
    print("  " + result["verdict"], flush=True)
    return result


def verdict(result):
    """One line: which candidate is chosen and how it compares with the library's."""
    rows = {r["candidate"]: r for r in result["rows"]}
    chosen, library = result["chosen"], rows["gesdd (library)"]
    head = f"{result['matrix']} (rank {result['rank']}): "
    if chosen is None:
        return head + "no candidate finished within 1 % of the optimum"
    fastest = min((r for r in rows.values() if r["median_s"] is not None),
                  key=lambda r: r["median_s"])
    line = head + f"chosen {chosen} ({rows[chosen]['median_s']:.3g} s)"
    if chosen == "gesdd (library)":
        line += ", the library's choice holds"
    elif library["median_s"] is not None:
        line += (f", {library['median_s'] / rows[chosen]['median_s']:.2f}x faster than the "
                 f"library's gesdd ({library['median_s']:.3g} s)")
    if fastest["candidate"] != chosen:
        line += (f"; fastest overall {fastest['candidate']} ({fastest['median_s']:.3g} s) "
                 f"but {_excess(fastest)} excess error")
    return line


# ------------------------------------------------------------------------------------- writing

def _seconds(row):
    if row["status"] == "over limit":
        return row["note"]
    if row["status"] == "failed":
        return "failed"
    return f"{row['median_s']:.4g} s"


def _excess(row):
    e = row["excess_percent"]
    return "-" if e is None else f"{e:.3g} %" if abs(e) >= 1e-3 else f"{e:.1e} %"


def table(results, header):
    lines = [header, "", "Candidates (all get the float32 matrix and return float32 factors):", ""]
    lines += [f"- **{name}** (computes in {c.computes_in}): {c.description}."
              for name, c in CANDIDATES.items()]
    for m in results:
        lines += ["", f"### {m['matrix']}: {m['shape'][0]} x {m['shape'][1]}, rank {m['rank']}",
                  "", f"{m['source']}. Optimum error {m['optimum']:.5g} "
                  f"({100 * m['optimum_relative']:.2f} % of ||W||_F); "
                  + ("one untimed warm-up run." if m["warmup"] else "no warm-up run."), "",
                  "| candidate | computes in | median s | runs | excess error | chosen | note |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for r in m["rows"]:
            note = r["note"] if r["status"] != "over limit" else ""
            lines.append(f"| {r['candidate']} | {r['computes_in']} | {_seconds(r)} | "
                         f"{len(r['seconds'])} | {_excess(r)} | "
                         f"{'**chosen**' if r['chosen'] else ''} | {note.replace('|', '/')} |")
        lines += ["", f"Verdict: {m['verdict']}."]
    return lines


def chart(results, limit, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(CANDIDATES)
    fig, axes = plt.subplots(len(results), 1, figsize=(9, 1.9 * len(results) + 0.8), sharex=True,
                             squeeze=False)
    for ax, m in zip(axes[:, 0], results):
        rows = {r["candidate"]: r for r in m["rows"]}
        for i, name in enumerate(names):
            r = rows[name]
            if r["status"] == "over limit":
                ax.barh(i, limit, color="lightgrey", hatch="//", edgecolor="grey")
                ax.text(limit, i, f" over {limit:g} s", va="center", fontsize=7)
            elif r["median_s"] is not None:
                ax.barh(i, r["median_s"], color="tab:green" if r["chosen"] else "tab:blue")
                ax.text(r["median_s"], i, f" {r['median_s']:.3g} s, {_excess(r)}", va="center",
                        fontsize=7)
            else:
                ax.text(0, i, " failed", va="center", fontsize=7,
                        transform=ax.get_yaxis_transform())
        ax.set_yticks(range(len(names)))
        ax.set_yticklabels(names, fontsize=8)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_title(f"{m['matrix']}: {m['shape'][0]} x {m['shape'][1]}, rank {m['rank']} "
                     f"(green: chosen)", fontsize=9)
    axes[-1, 0].set_xlabel("median seconds (log scale); label: excess error over the optimum")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results",
                        help="folder for svd_solvers.md, .json and .png")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per candidate (median)")
    parser.add_argument("--limit", type=float, default=300,
                        help="seconds one run of a candidate may take before it is stopped")
    parser.add_argument("--quick", action="store_true",
                        help="small stand-in matrices, 1 repeat, a 30 s limit: a smoke test")
    args = parser.parse_args(argv)
    repeats = 1 if args.quick else args.repeats
    limit = min(args.limit, 30) if args.quick else args.limit
    # fork: the child starts at once, without importing SciPy again.
    context = multiprocessing.get_context(
        "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")

    results = []
    with tempfile.TemporaryDirectory(prefix="svd_solvers_") as folder:
        for name, source, rank, build in matrices(args.quick):
            results.append(measure_matrix(context, name, source, rank, build, repeats, limit,
                                          folder))

    info = system_info()
    machine = (f"{platform.processor() or platform.machine()}, {info['threads']['cpu cores']} cores, "
               f"numpy {info['versions']['numpy']} ({info['threads']['numpy BLAS']}), "
               f"scipy {scipy.__version__}, OPENBLAS_NUM_THREADS="
               f"{info['threads']['OPENBLAS_NUM_THREADS']}")
    header = (f"Truncated SVD solvers{' (--quick)' if args.quick else ''}: median of {repeats} "
              f"run(s) per candidate, each in a child process stopped after {limit:g} s; "
              f"\"chosen\": the fastest whose Frobenius error is within {100 * TOLERANCE:g} % of "
              f"the optimum. Synthetic spectrum: {SPECTRUM}. Machine: {machine}.")
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / "svd_solvers"
    settings = {"quick": args.quick, "repeats": repeats, "limit_s": limit,
                "tolerance": TOLERANCE, "spectrum": SPECTRUM, "oversample": OVERSAMPLE,
                "power_iterations": POWER_ITERATIONS, "warmup_max_elements": SMALL,
                "start_method": context.get_start_method()}
    candidates = {name: {"computes_in": c.computes_in, "description": c.description}
                  for name, c in CANDIDATES.items()}
    stem.with_suffix(".json").write_text(json.dumps(
        {"machine": machine, "info": info, "settings": settings, "candidates": candidates,
         "matrices": results}, indent=2))
    lines = table(results, header)
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    chart(results, limit, stem.with_suffix(".png"))
    print("\n" + "\n".join(m["verdict"] for m in results))
    print(f"\nwrote {', '.join(str(stem.with_suffix(s)) for s in ('.md', '.json', '.png'))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
