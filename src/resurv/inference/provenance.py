"""What a result depends on beyond its input files: resurv's own source code.

A saved result (a sweep's fit, a calibration checkpoint) may be reused only by the same code that
made it; the package version string alone does not change when the code does.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["PACKAGE_ROOT", "source_digest"]

#: The folder of the ``resurv`` package (``src/resurv``).
PACKAGE_ROOT = Path(__file__).resolve().parents[1]


def source_digest(root: str | Path | None = None) -> str:
    """SHA-256 of every ``*.py`` file under ``root`` (default: the whole resurv package).

    Each file's path relative to ``root`` and its bytes enter the digest in sorted order, so
    editing, adding, removing or renaming a source file changes it.
    """
    root = PACKAGE_ROOT if root is None else Path(root).resolve()
    h = hashlib.sha256()
    for f in sorted(root.rglob("*.py")):
        h.update(f.relative_to(root).as_posix().encode())
        h.update(b"\0")
        h.update(f.read_bytes())
    return h.hexdigest()
