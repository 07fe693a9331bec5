"""Small helpers to read TOML tables strictly: known keys only, typed values, clear errors.

Every failure raises the given :class:`~resurv.errors.InputError` subclass with the file, the
dotted field name and the rule broken.
"""

from __future__ import annotations

import difflib
import math
import tempfile
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from resurv.errors import InputError

__all__ = ["TableReader", "load_from_text", "read_toml"]


def read_toml(path: str | Path, error: type[InputError]) -> dict[str, Any]:
    """Parse a TOML file, turning missing files and syntax errors into ``error``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(path, None, "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(path, None, f"cannot be read ({exc})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(path, None, f"is not valid TOML ({exc})") from None


def load_from_text(loader, text: str, path: str | Path, error: type[InputError]):
    """Run a file ``loader`` on ``text``, a saved copy of the file at ``path``.

    The text is written under the file's own name into a temporary folder (so that defaults taken
    from the file name, such as a prior file's ``name``, are the same), and errors name ``path``
    as the file they came from. Fields that record where the file is (``path``) still name the
    temporary copy: callers replace them.
    """
    with tempfile.TemporaryDirectory(prefix="resurv-text-") as tmp:
        copy = Path(tmp) / Path(path).name
        copy.write_text(text, encoding="utf-8")
        try:
            return loader(copy)
        except InputError as exc:
            raise error(f"{path} (saved copy)", exc.field, exc.rule) from None


class TableReader:
    """Typed, strict access to one TOML table.

    Parameters
    ----------
    table : mapping
        The parsed table.
    file : str or Path
        The file it came from (for messages).
    prefix : str
        Dotted path of the table inside the file (for messages), e.g. ``"arms[1]"``.
    error : type
        The error class to raise.
    """

    def __init__(self, table: Any, file: str | Path, prefix: str, error: type[InputError]):
        self.file = str(file)
        self.prefix = prefix
        self.error = error
        if not isinstance(table, Mapping):
            raise error(self.file, prefix or None, "must be a table")
        self.table = table

    def field(self, key: str) -> str:
        """Dotted name of ``key`` within this table."""
        return f"{self.prefix}.{key}" if self.prefix else key

    def fail(self, key: str | None, rule: str) -> InputError:
        """Build (not raise) the error for ``key``."""
        return self.error(self.file, self.field(key) if key else (self.prefix or None), rule)

    def only(self, allowed: Iterable[str]) -> None:
        """Refuse keys outside ``allowed``, suggesting the closest known key."""
        allowed = list(allowed)
        for key in self.table:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise self.fail(key, f"unknown key{hint}; allowed: {', '.join(sorted(allowed))}")

    def has(self, key: str) -> bool:
        """Whether ``key`` is present."""
        return key in self.table

    def raw(self, key: str, default: Any = ...) -> Any:
        """The value, or ``default``; required when no default is given."""
        if key not in self.table:
            if default is ...:
                raise self.fail(key, "is required but missing")
            return default
        return self.table[key]

    def string(self, key: str, default: Any = ..., choices: Iterable[str] | None = None) -> Any:
        """A string value, optionally from a fixed set."""
        value = self.raw(key, default)
        if value is default and default is not ...:
            return value
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, "must be a non-empty string")
        if choices is not None:
            choices = list(choices)
            if value not in choices:
                raise self.fail(key, f"must be one of {', '.join(choices)}; got '{value}'")
        return value

    def number(
        self,
        key: str,
        default: Any = ...,
        *,
        positive: bool = False,
        nonnegative: bool = False,
        open_unit: bool = False,
        integer: bool = False,
    ) -> Any:
        """A finite number, with optional range rules."""
        value = self.raw(key, default)
        if value is default and default is not ...:
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(key, f"must be a number; got {value!r}")
        if not math.isfinite(value):
            raise self.fail(key, "must be finite")
        if integer and (not float(value).is_integer()):
            raise self.fail(key, f"must be a whole number; got {value}")
        if positive and value <= 0:
            raise self.fail(key, f"must be > 0; got {value}")
        if nonnegative and value < 0:
            raise self.fail(key, f"must be >= 0; got {value}")
        if open_unit and not 0 < value < 1:
            raise self.fail(key, f"must be strictly between 0 and 1; got {value}")
        return int(value) if integer else float(value)

    def numbers(self, key: str, default: Any = ..., *, positive: bool = False) -> Any:
        """A list of finite numbers."""
        value = self.raw(key, default)
        if value is default and default is not ...:
            return value
        if not isinstance(value, list) or not value:
            raise self.fail(key, "must be a non-empty list of numbers")
        out = []
        for i, v in enumerate(value):
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise self.fail(f"{key}[{i}]", f"must be a finite number; got {v!r}")
            if positive and v <= 0:
                raise self.fail(f"{key}[{i}]", f"must be > 0; got {v}")
            out.append(float(v))
        return out

    def boolean(self, key: str, default: Any = ...) -> Any:
        """A true/false value."""
        value = self.raw(key, default)
        if value is default and default is not ...:
            return value
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false; got {value!r}")
        return value

    def sub(self, key: str, default: Any = ...) -> TableReader | None:
        """A nested table as a reader (``None`` when absent and a default is given)."""
        value = self.raw(key, default)
        if value is default and default is not ...:
            return None
        return TableReader(value, self.file, self.field(key), self.error)

    def subs(self, key: str, default: Any = ...) -> list[TableReader]:
        """An array of tables as readers."""
        value = self.raw(key, default)
        if value is default and default is not ...:
            return []
        if not isinstance(value, list):
            raise self.fail(key, "must be an array of tables ([[...]])")
        return [
            TableReader(v, self.file, f"{self.field(key)}[{i}]", self.error)
            for i, v in enumerate(value)
        ]
