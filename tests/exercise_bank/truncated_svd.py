"""Exercise truncated_svd: truncated_svd(w, rank) -> (w_first, w_second).

w (out, in) float32/float64, 1 <= rank <= min(out, in). w_first = S_t V_t^T (rank, in),
w_second = U_t (out, rank) with orthonormal columns, both in w's dtype, so that
w_second @ w_first is the best rank-t approximation of w. Singular vectors are defined up to sign
(and up to rotation where singular values repeat), so the factors are judged by their shapes,
dtype, the orthonormality of w_second and the reconstruction error, not entry by entry."""

import numpy as np

from exercise_bank import Mutant

EXERCISE = "truncated_svd"


def truncated_svd_numpy(w, rank):
    """np.linalg.svd, thin."""
    u, s, vt = np.linalg.svd(w, full_matrices=False)
    return (s[:rank, None] * vt[:rank]).astype(w.dtype), u[:, :rank].astype(w.dtype)


def truncated_svd_eigh(w, rank):
    """The top eigenvectors of W W^T (in float64) are U; then S V^T = U^T W."""
    w64 = w.astype(np.float64)
    _, vectors = np.linalg.eigh(w64 @ w64.T)                # ascending
    u = vectors[:, ::-1][:, :rank]
    return (u.T @ w64).astype(w.dtype), np.ascontiguousarray(u).astype(w.dtype)


def truncated_svd_flipped_signs(w, rank):
    """Full SVD with both factors negated: as good as the library's, different signs."""
    u, s, vt = np.linalg.svd(w.astype(np.float64))
    w_first = -np.diag(s[:rank]) @ vt[:rank, :]
    w_second = -u[:, :rank]
    return w_first.astype(w.dtype), w_second.astype(w.dtype)


def truncated_svd_of_transpose(w, rank):
    u, s, vt = np.linalg.svd(w.T, full_matrices=False)
    return (s[:rank, None] * vt[:rank]).astype(w.dtype), u[:, :rank].astype(w.dtype)


def truncated_svd_smallest(w, rank):
    u, s, vt = np.linalg.svd(w, full_matrices=False)
    return (s[-rank:, None] * vt[-rank:]).astype(w.dtype), u[:, -rank:].astype(w.dtype)


def truncated_svd_s_in_second(w, rank):
    u, s, vt = np.linalg.svd(w, full_matrices=False)
    return vt[:rank].astype(w.dtype), (u[:, :rank] * s[:rank]).astype(w.dtype)


def truncated_svd_float64(w, rank):
    u, s, vt = np.linalg.svd(w.astype(np.float64), full_matrices=False)
    return s[:rank, None] * vt[:rank], u[:, :rank]


def truncated_svd_eigenvalues(w, rank):
    w64 = w.astype(np.float64)
    values, vectors = np.linalg.eigh(w64.T @ w64)           # ascending; values are s^2
    v = vectors[:, ::-1][:, :rank]
    u = w64 @ v / np.sqrt(values[::-1][:rank])
    return (values[::-1][:rank, None] * v.T).astype(w.dtype), u.astype(w.dtype)


def truncated_svd_column_scaling(w, rank):
    u, s, vt = np.linalg.svd(w, full_matrices=False)
    return (s[:rank] * vt[:rank]).astype(w.dtype), u[:, :rank].astype(w.dtype)


def truncated_svd_vt_transposed(w, rank):
    u, s, vt = np.linalg.svd(w, full_matrices=False)
    return (s[:rank, None] * vt.T[:rank]).astype(w.dtype), u[:, :rank].astype(w.dtype)


CORRECT = {
    "numpy_svd": (truncated_svd_numpy,),
    "eigh_of_gram": (truncated_svd_eigh,),
    "flipped_signs": (truncated_svd_flipped_signs,),
}

MUTANTS = {
    "svd_of_transpose": Mutant((truncated_svd_of_transpose,),
                               "factors W^T instead of W: transposed factors, (rank, out) and "
                               "(in, rank), and W^T back for a square W"),
    "smallest_values": Mutant((truncated_svd_smallest,),
                              "keeps the last (smallest) singular values, as if svd sorted "
                              "ascending like eigh"),
    "singular_values_in_second": Mutant((truncated_svd_s_in_second,),
                                        "S goes into w_second (U_t S_t) and w_first is V_t^T: "
                                        "same product, but w_second is no longer orthonormal"),
    "float64_out": Mutant((truncated_svd_float64,),
                          "casts to float64 for the SVD and returns float64 for float32 w"),
    "eigenvalues_as_singular": Mutant((truncated_svd_eigenvalues,),
                                      "eigh of W^T W gives s^2: used as S without the square "
                                      "root"),
    "scales_columns": Mutant((truncated_svd_column_scaling,),
                             "s[:rank] * vt[:rank] broadcasts over columns, not rows: "
                             "silently wrong when in == rank (a crash otherwise)"),
    "vt_transposed": Mutant((truncated_svd_vt_transposed,),
                            "takes rows of vt.T (columns of V^T) instead of rows of vt"),
}


# The property of minifrcnn.exercises' check that fails each mutant (seed 2015).
CAUGHT_BY = {
    'svd_of_transpose':           'w_first',
    'smallest_values':            'reconstruction',
    'singular_values_in_second':  'w_second columns',
    'float64_out':                'w_first',
    'eigenvalues_as_singular':    'reconstruction',
    'scales_columns':             'reconstruction',
    'vt_transposed':              'reconstruction',
}
