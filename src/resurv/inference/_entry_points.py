"""The C entry points through which nutpie calls a compiled model, linked without recompiling it.

nutpie samples a PyMC model through two C callbacks, the log density with its gradient and the
expansion of a draw into every named variable. It builds each as a ``numba.cfunc`` that calls the
function PyTensor compiled for the model's graph (itself loaded from PyTensor's on-disk cache when
the graph was compiled before). Numba links a callee by copying its LLVM IR into the caller, so
every cfunc recompiled the model's whole graph: optimisation and machine code for every kernel,
once more, on each compile. Inside :func:`separately_linked_entry_points`:

* the callbacks call PyTensor's compiled graph function by its symbol, already in the process's
  JIT engine, instead of copying it in: the graph's machine code is generated once (or loaded
  from the cache), the callbacks are a few dozen instructions;
* the callbacks are lean: the model's shared arrays are read from nutpie's user-data record by
  straight-line code generated for the model (no per-array overload to specialise), and the
  outputs are copied in loops (no array-assignment machinery, whose error path alone compiled
  for seconds).

They compute exactly what nutpie's own callbacks compute, with the same return codes (0 ok; −1
wrong dimension; 1 (log density) or −2 (expansion) an exception; 3 a non-finite gradient;
4 a non-finite log density), and call the same compiled code, so draws are identical
(``tests/test_entry_points.py``; the compile time saved: ``benchmarks/bench_compile.py``).
The three patches (nutpie's two callback builders, numba's linking of a library) are undone on
exit, even after an error. They replace private functions, so they are applied only under the
versions they were written for (:data:`WRITTEN_FOR`: nutpie 0.16.x, numba 0.68.x); under any
other version, or when a patched function is missing, nutpie compiles its own callbacks (slower
to compile, the same draws) and one warning is logged per process. A callback keeps the graph
function's dispatcher among its globals, so the code it calls lives as long as the callback.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata

import numba
import numba.core.codegen as numba_codegen
import numpy as np
from nutpie import compile_pymc as nutpie_compile

__all__ = [
    "GRAPH_FUNCTION_NAME",
    "WRITTEN_FOR",
    "separately_linked_entry_points",
    "unsupported_versions",
]

log = logging.getLogger(__name__)

#: Release series (version prefixes) of the packages whose private functions are patched here.
WRITTEN_FOR = {"nutpie": "0.16.", "numba": "0.68."}
_PATCHED = (
    (nutpie_compile, "_make_c_logp_func"),
    (nutpie_compile, "_make_c_expand_func"),
    (numba_codegen.CPUCodeLibrary, "add_linking_library"),
)
_warned = False

#: Name of the function PyTensor's numba linker compiles for a whole graph (its library's name).
GRAPH_FUNCTION_NAME = "numba_funcified_fgraph"
_LOGP_ENTRY = "resurv_logp_entry"
_EXPAND_ENTRY = "resurv_expand_entry"

_LOGP_SIGNATURE = numba.types.int64(
    numba.types.uint64,
    numba.types.CPointer(numba.types.double),
    numba.types.CPointer(numba.types.double),
    numba.types.CPointer(numba.types.double),
    numba.types.voidptr,
)
_EXPAND_SIGNATURE = numba.types.int64(
    numba.types.uint64,
    numba.types.uint64,
    numba.types.CPointer(numba.types.double),
    numba.types.CPointer(numba.types.double),
    numba.types.voidptr,
)


def _shared_array_lines(shared_keys, shared_data) -> tuple[list[str], list[str], dict]:
    """Source lines reading each shared array from the user-data record, and their names.

    Array ``k`` is ``carray(data pointer, size, dtype)`` reshaped to the shape stored in the
    record (nutpie's ``update_user_data`` keeps pointer, size and shape current).
    """
    lines, names, dtypes = [], [], {}
    for k, key in enumerate(shared_keys):
        ndim = shared_data[key].ndim
        dtypes[f"dtype_{k}"] = np.dtype(shared_data[key].dtype)
        shape = ", ".join(f"int(shared['shape']['{key}'][{i}])" for i in range(ndim))
        lines.append(
            f"flat_{k} = numba.carray(address_as_void_pointer(shared['data']['{key}'][()]), "
            f"int(shared['size']['{key}'][()]), dtype_{k})"
        )
        lines.append(f"array_{k} = flat_{k}.reshape(({shape}{',' if ndim == 1 else ''}))")
        names.append(f"array_{k}")
    return lines, names, dtypes


def _compile_entry(name, parameters, sizes_ok, body, on_exception, shared_keys, shared_data, env):
    """Compile callback ``name``: size check, x and the shared arrays, then ``body``.

    ``body`` lines (indented inside the ``try``) may use ``{arguments}``, the graph function's
    arguments (x, then the shared arrays in nutpie's order); an exception returns
    ``on_exception``, success 0.
    """
    lines, names, dtypes = _shared_array_lines(shared_keys, shared_data)
    arguments = ", ".join(["x", *names])
    source = "\n".join(
        [
            f"def {name}({parameters}):",
            f"    if not ({sizes_ok}):",
            "        return -1",
            "    try:",
            "        x = numba.carray(x_, (n_dim,))",
            "        shared = numba.carray(user_data_, (), record_dtype)['shared']",
            *["        " + line for line in lines],
            *["        " + line.format(arguments=arguments) for line in body],
            "    except Exception:",
            f"        return {on_exception}",
            "    return 0",
        ]
    )
    namespace = {
        "numba": numba,
        "np": np,
        "address_as_void_pointer": nutpie_compile.address_as_void_pointer,
        **env,
        **dtypes,
    }
    exec(compile(source, f"<resurv entry point {name}>", "exec"), namespace)  # noqa: S102
    return namespace[name]


def make_logp_entry(n_dim, logp_fn, user_data, shared_keys, shared_data):
    """The log-density callback (nutpie's ``_make_c_logp_func`` contract): (function, signature)."""
    body = [
        "out = numba.carray(out_, (n_dim,))",
        "logp = numba.carray(logp_, (1,))",
        "value, gradient = logp_fn({arguments})",
        "logp[0] = value",
        "finite = True",
        "for i in range(n_dim):",
        "    out[i] = gradient[i]",
        "    finite = finite and np.isfinite(gradient[i])",
        "if not finite:",
        "    return 3",
        "if not np.isfinite(value):",
        "    return 4",
    ]
    env = {"n_dim": n_dim, "logp_fn": logp_fn, "record_dtype": user_data.dtype}
    function = _compile_entry(
        _LOGP_ENTRY,
        "dim, x_, out_, logp_, user_data_",
        "dim == n_dim",
        body,
        1,
        shared_keys,
        shared_data,
        env,
    )
    return function, _LOGP_SIGNATURE


def make_expand_entry(n_dim, n_expanded, expand_fn, user_data, shared_keys, shared_data):
    """The expansion callback (nutpie's ``_make_c_expand_func`` contract)."""
    body = [
        "out = numba.carray(out_, (n_expanded,))",
        "(values,) = expand_fn({arguments})",
        "for i in range(n_expanded):",
        "    out[i] = values[i]",
    ]
    env = {
        "n_dim": n_dim,
        "n_expanded": n_expanded,
        "expand_fn": expand_fn,
        "record_dtype": user_data.dtype,
    }
    function = _compile_entry(
        _EXPAND_ENTRY,
        "dim, expanded, x_, out_, user_data_",
        "dim == n_dim and expanded == n_expanded",
        body,
        -2,
        shared_keys,
        shared_data,
        env,
    )
    return function, _EXPAND_SIGNATURE


def _installed_version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def unsupported_versions() -> dict[str, str]:
    """Installed versions that differ from :data:`WRITTEN_FOR`, by package (empty: all fit)."""
    installed = {p: _installed_version(p) for p in WRITTEN_FOR}
    return {p: v for p, v in installed.items() if not v.startswith(WRITTEN_FOR[p])}


def _why_not_patched() -> str | None:
    """Why the patches cannot be applied here (None: they can)."""
    wrong = unsupported_versions()
    if wrong:
        found = ", ".join(f"{p} {v} (written for {WRITTEN_FOR[p]}x)" for p, v in wrong.items())
        return f"installed {found}"
    missing = [f"{o.__name__}.{a}" for o, a in _PATCHED if not callable(getattr(o, a, None))]
    if missing:
        return f"missing {', '.join(missing)}"
    return None


@contextmanager
def separately_linked_entry_points() -> Iterator[None]:
    """Within: nutpie compiles its callbacks lean, calling the graph function by symbol.

    Patches ``nutpie.compile_pymc._make_c_logp_func``/``_make_c_expand_func`` (nutpie pinned in
    pyproject.toml) and numba's ``CPUCodeLibrary.add_linking_library``: a callback's library
    does not link in the library of PyTensor's graph function; that library is finalised (its
    symbols defined in the JIT engine) and the callback's call resolves to it there.

    Under other versions of nutpie or numba than :data:`WRITTEN_FOR` nothing is patched: nutpie
    compiles its default callbacks, and the first time this happens in a process a warning is
    logged.
    """
    global _warned
    why = _why_not_patched()
    if why is not None:
        if not _warned:
            _warned = True
            log.warning(
                "nutpie's default compilation is used (slower to compile, the same draws): "
                "resurv's lean entry points patch private functions of nutpie and numba and "
                "were written for nutpie %sx and numba %sx; %s",
                WRITTEN_FOR["nutpie"],
                WRITTEN_FOR["numba"],
                why,
            )
        yield
        return
    originals = (
        nutpie_compile._make_c_logp_func,
        nutpie_compile._make_c_expand_func,
        numba_codegen.CPUCodeLibrary.add_linking_library,
    )
    link = originals[2]

    def add_linking_library(self, library):
        if self.name.startswith((_LOGP_ENTRY, _EXPAND_ENTRY)) and (
            library.name.startswith(GRAPH_FUNCTION_NAME)
        ):
            library._ensure_finalized()
            log.debug("%s calls %s by symbol, not linked in", self.name, library.name)
            return None
        return link(self, library)

    nutpie_compile._make_c_logp_func = make_logp_entry
    nutpie_compile._make_c_expand_func = make_expand_entry
    numba_codegen.CPUCodeLibrary.add_linking_library = add_linking_library
    try:
        yield
    finally:
        (
            nutpie_compile._make_c_logp_func,
            nutpie_compile._make_c_expand_func,
            numba_codegen.CPUCodeLibrary.add_linking_library,
        ) = originals
