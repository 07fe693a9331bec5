"""Calibrations and sweeps on a Dask cluster (optional: ``pip install 'resurv[dask]'``).

A calibration's replicates and a sweep's runs are independent once their model is compiled.
:func:`cluster_client` connects to a cluster, local (``LocalCluster``: one worker process per
core, each with one thread, its chains sampled one after another) or existing (a scheduler's
address, e.g. of a cluster started with dask-jobqueue on SLURM), and :func:`run_batches` runs
batches of tasks on it:

- tasks are grouped by model structure and cut into batches (:func:`batches`), so a worker
  receives several replicates or settings of one structure at a time; each worker process keeps
  one :class:`~resurv.inference.fit.Fitter` per sampler setting (:func:`worker_fitter`), so it
  compiles each structure once and reuses it for every batch it receives;
- each worker process compiles into a PyTensor compile directory of its own (the worker plugin
  :class:`resurv.inference.cluster_plugin.CompileDirectory` sets it before PyTensor is imported
  in the worker; PyTensor's compile cache is not safe to share between processes, pymc issue
  7819). As a worker starts, its directory gets hard links to the numba kernels cached by the
  process that opens the cluster that it lacks (numba replaces a cache file, never rewrites
  it, so the copies stay independent);
- a worker that dies loses its current batch only: the scheduler gives the batch to another
  worker (``distributed.scheduler.allowed-failures`` times); an error raised by a task (a
  failed fit, naming its replicate or setting) is not retried and stops the run;
- results come back as each batch finishes, for the caller to record (checkpoint, progress).

This module imports Dask only inside its functions: serial runs never import it.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import sys
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "ClusterOptions",
    "batches",
    "cluster_client",
    "require_dask",
    "run_batches",
    "seed_from",
    "worker_compile_dir",
    "worker_fitter",
]

log = logging.getLogger(__name__)

#: Dask's package names, for the message when they are missing.
INSTALL_HINT = "pip install 'resurv[dask]' (dask[distributed])"


class ClusterOptions:
    """Where to run: ``workers`` local processes, or the cluster at ``scheduler`` (an address).

    ``batch_size``: tasks per batch (None: :func:`batches` chooses). ``client``: an open
    ``distributed.Client`` to use instead (left open).
    """

    def __init__(
        self,
        workers: int | None = None,
        scheduler: str | None = None,
        batch_size: int | None = None,
        client=None,
    ):
        if sum(x is not None for x in (workers, scheduler, client)) != 1:
            raise ValueError(
                "give one of workers (a local cluster), scheduler (an address), client"
            )
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be at least 1; got {workers}")
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be at least 1; got {batch_size}")
        self.workers, self.scheduler, self.batch_size = workers, scheduler, batch_size
        self.client = client

    def __repr__(self) -> str:
        where = (
            f"scheduler={self.scheduler!r}"
            if self.scheduler
            else f"workers={self.workers}"
            if self.client is None
            else "client"
        )
        return f"ClusterOptions({where}, batch_size={self.batch_size})"


def require_dask() -> None:
    """Raise ImportError with the install command when dask.distributed is not installed."""
    try:
        import distributed  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            f"running on a Dask cluster needs dask.distributed: {INSTALL_HINT}"
        ) from exc


def _default_base_compiledir() -> Path:
    """PyTensor's base compile directory of this process, read without importing PyTensor."""
    if "pytensor" in sys.modules:
        import pytensor

        return Path(pytensor.config.base_compiledir)
    for flag in os.environ.get("PYTENSOR_FLAGS", "").split(","):
        name, _, value = flag.partition("=")
        if name.strip() == "base_compiledir" and value.strip():
            return Path(value.strip()).expanduser()
    return Path.home() / ".pytensor"


def worker_compile_dir(root: Path, worker_name: str) -> Path:
    """The compile directory of worker ``worker_name`` under ``root`` (host name included)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(worker_name))
    return root / f"worker-{socket.gethostname()}-{safe}"


def seed_from(source: Path, target: Path) -> int:
    """Hard-link into ``target`` the numba kernels of ``source`` it lacks; the number linked.

    A kernel file the worker's cache has already is left as it is.
    """
    if not source.is_dir():
        return 0
    target.mkdir(parents=True, exist_ok=True)
    have = set(os.listdir(target))
    linked = 0
    try:
        for entry in os.scandir(source):
            name = entry.name
            if name in have or ".tmp." in name or not entry.is_file(follow_symlinks=False):
                continue
            try:
                os.link(entry.path, target / name)
            except FileExistsError:  # written meanwhile by the worker itself: keep its own
                continue
            linked += 1
    except OSError as exc:  # another file system, or links not allowed
        log.info("numba kernels not linked into %s (%s): compiling from scratch", target, exc)
    return linked


_FITTERS: dict = {}


def worker_fitter(settings, tag: Hashable = None):
    """The :class:`~resurv.inference.fit.Fitter` this process keeps for ``settings`` (and ``tag``).

    Each chain is sampled on the worker's own thread (``cores=1``): the draws do not depend on
    the number of cores, only on the seed. ``tag`` keeps models compiled with different data
    apart (a sweep's structure and the run whose data compile it).
    """
    import dataclasses

    from resurv.inference.fit import Fitter

    settings = dataclasses.replace(settings, cores=1)
    if (settings, tag) not in _FITTERS:
        _FITTERS[settings, tag] = Fitter(settings)
    return _FITTERS[settings, tag]


@contextmanager
def cluster_client(options: ClusterOptions) -> Iterator:
    """A ``distributed.Client`` on a local cluster or the scheduler of ``options``; closed after.

    Every worker gets the plugin :class:`~resurv.inference.cluster_plugin.CompileDirectory`. On
    a local cluster the workers' directories are under this process's base compile directory
    and start from its numba kernels; on an existing cluster under the workers' own
    ``~/.pytensor``.
    """
    if options.client is not None:
        yield options.client
        return
    require_dask()
    from distributed import Client, LocalCluster

    from resurv.inference.cluster_plugin import CompileDirectory

    cluster = None
    base = _default_base_compiledir()
    if options.scheduler:
        client = Client(options.scheduler)
        plugin = CompileDirectory(str(Path("~/.pytensor/resurv-workers").expanduser()))
        log.info("connected to the Dask scheduler at %s", options.scheduler)
    else:
        cluster = LocalCluster(
            n_workers=options.workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
        )
        client = Client(cluster)
        plugin = CompileDirectory(str(base / "resurv-workers"), seed=str(base / "numba"))
        log.info("started a local Dask cluster of %d worker processes", options.workers)
    try:
        client.register_plugin(plugin)
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def batches(
    groups: Iterable[tuple[Hashable, Sequence]], n_workers: int, batch_size: int | None = None
) -> list[list]:
    """Tasks cut into batches of one group (model structure) each.

    ``groups``: (structure key, tasks) pairs. Without ``batch_size`` a batch holds at most
    ceil(total / (2·workers)) tasks: every worker gets about two batches or more, and a dead
    worker loses few tasks.
    """
    groups = [(k, list(v)) for k, v in groups]
    total = sum(len(v) for _, v in groups)
    size = batch_size or max(1, math.ceil(total / (2 * max(1, n_workers))))
    out = []
    for _, tasks in groups:
        out += [tasks[i : i + size] for i in range(0, len(tasks), size)]
    return out


def n_workers(client) -> int:
    """Workers connected to ``client``'s scheduler (at least 1)."""
    return max(1, len(client.scheduler_info(n_workers=-1).get("workers", {})))


def run_batches(
    client,
    function: Callable,
    batch_list: Sequence[Sequence],
    *args,
    on_result: Callable[[object], None],
) -> None:
    """Run ``function(batch, *args)`` for each batch on the cluster; ``on_result`` per result.

    Results arrive in the order batches finish. A task's error (after the scheduler rescheduled
    the batches of dead workers) is raised here, after cancelling the batches not yet run.
    """
    from distributed import as_completed

    futures = [
        client.submit(function, list(batch), *args, pure=False, retries=0) for batch in batch_list
    ]
    try:
        for future in as_completed(futures):
            on_result(future.result())
    finally:
        for future in futures:
            if not future.done():
                future.cancel()
