"""The worker plugin giving each Dask worker process a PyTensor compile directory of its own.

Imported only when a cluster is used (it imports dask.distributed).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from distributed import WorkerPlugin

from resurv.inference.cluster import seed_from, worker_compile_dir

__all__ = ["CompileDirectory"]

log = logging.getLogger(__name__)


class CompileDirectory(WorkerPlugin):
    """Worker plugin: a PyTensor base compile directory per worker process.

    Registered with the cluster's client, it runs in every worker process as it starts (and in
    a process restarted after a worker died) and sets ``PYTENSOR_FLAGS=base_compiledir=...``
    before PyTensor is imported there. ``root``: parent of the workers' directories; ``seed``:
    a numba cache whose kernels are hard-linked into the worker's (the client's own cache, on
    a local cluster).
    """

    idempotent = False
    name = "resurv-compile-directory"

    def __init__(self, root: str, seed: str | None = None):
        self.root, self.seed = root, seed

    def setup(self, worker) -> None:
        """Set the worker's compile directory (a warning if PyTensor was imported already)."""
        target = worker_compile_dir(Path(self.root), worker.name)
        if "pytensor" in sys.modules:
            import pytensor

            if Path(pytensor.config.base_compiledir) != target:
                log.warning(
                    "worker %s imported PyTensor before its compile directory was set: it "
                    "compiles in %s",
                    worker.name,
                    pytensor.config.base_compiledir,
                )
            return
        if self.seed:
            seed_from(Path(self.seed), target / "numba")
        target.mkdir(parents=True, exist_ok=True)
        flags = [
            f
            for f in os.environ.get("PYTENSOR_FLAGS", "").split(",")
            if f and f.partition("=")[0].strip() != "base_compiledir"
        ]
        os.environ["PYTENSOR_FLAGS"] = ",".join([*flags, f"base_compiledir={target}"])

    def teardown(self, worker) -> None:
        """Nothing to undo (the directory is kept for the next run)."""
