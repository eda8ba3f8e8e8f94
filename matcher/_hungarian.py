"""SciPy's Hungarian solver, ``scipy.optimize.linear_sum_assignment``, without the rest.

``from scipy.optimize import linear_sum_assignment`` costs about 0.6 s of start-up,
more than a 500 x 500 ``mentormatch match`` spends matching: the package's
``__init__`` loads linprog, shgo, ``scipy.linalg``, ``scipy.sparse.linalg`` and more.
The solver itself is one C extension, ``scipy/optimize/_lsap*.so``, that needs only
NumPy: :func:`linear_sum_assignment` loads that file by itself on its first call, as
a module of ours (``matcher._hungarian._lsap``, never under SciPy's name, so that a
later ``import scipy.optimize`` loads SciPy's own as usual).

It is the same compiled function that ``scipy.optimize`` exports (the result is the
same, ``tests/matcher/test_hungarian.py``). On any failure to find or load it (a SciPy
that moved, renamed or wrapped it) it falls back to the public import.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["linear_sum_assignment", "load_extension"]

Solver = Callable[..., tuple[NDArray[np.intp], NDArray[np.intp]]]


def load_extension() -> Solver:
    """``linear_sum_assignment`` of SciPy's ``_lsap`` extension file; raises if missing."""
    spec = importlib.util.find_spec("scipy")  # finds the package, does not import it
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("scipy is not installed")
    folder = Path(next(iter(spec.submodule_search_locations))) / "optimize"
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = folder / f"_lsap{suffix}"
        if path.is_file():
            break
    else:
        raise ImportError(f"no _lsap extension in {folder}")
    # The last part of the name must be "_lsap": it names the module's init function.
    ext = importlib.util.spec_from_file_location(f"{__name__}._lsap", path)
    if ext is None or ext.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(ext)
    ext.loader.exec_module(module)
    solver: Solver = module.linear_sum_assignment
    rows, cols = solver(np.zeros((1, 2)), maximize=True)  # the signature we call
    if rows.tolist() != [0] or cols.tolist() != [0]:
        raise ImportError(f"unexpected linear_sum_assignment in {path}")
    return solver


@cache
def _solver() -> Solver:
    try:
        return load_extension()
    except Exception:  # any failure (moved, renamed, wrapped): the public name
        from scipy.optimize import linear_sum_assignment as public

        solver: Solver = public
        return solver


def linear_sum_assignment(
    cost: NDArray[Any], maximize: bool = False
) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """``scipy.optimize.linear_sum_assignment(cost, maximize=maximize)``."""
    return _solver()(cost, maximize=maximize)


#: The modules :func:`matcher.assign` imports on first use, for some objectives or sizes.
LAZY_MODULES = (
    "scipy.optimize",
    "scipy.sparse",
    "scipy.sparse.csgraph",
    "matcher._auction_path",
    "matcher._sparse",
    "matcher._many",
    "matcher._fair",
    "ortools.graph.python.min_cost_flow",  # several mentors per mentee (matcher._flow)
)


def preload() -> None:
    """Import everything :func:`matcher.assign` would import on first use (SciPy's
    ``linear_sum_assignment`` too: the fallback should the extension not load), and
    load the solver extension, so that a long-lived process's first call is not slower
    than the next (a worker calls it before taking its first run)."""
    for name in LAZY_MODULES:
        importlib.import_module(name)
    _solver()
