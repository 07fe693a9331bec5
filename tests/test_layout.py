"""The library's layout rules, checked on its source: stage packages, no cross-package private
imports, no global settings changed at import, no dispatch on a statistic's kind outside the
registry of published statistics."""

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "resurv"
MODULES = sorted(SRC.rglob("*.py"))


def _package(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0] if len(rel.parts) > 1 else ""


def _imports(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_no_private_name_is_imported_from_another_package(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    own = _package(path)
    for node in _imports(tree):
        parts = node.module.split(".")
        if parts[0] != "resurv":
            continue
        other = parts[1] if len(parts) > 2 else ""
        private_module = any(p.startswith("_") for p in parts[1:])
        private_names = [a.name for a in node.names if a.name.startswith("_")]
        if other != own:
            assert not private_names, f"{path.name} imports {private_names} from {node.module}"
            assert not private_module, f"{path.name} imports from private module {node.module}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_no_global_setting_is_changed_at_import(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:  # module level only: inside functions a setting is set where used
        if not isinstance(node, ast.Expr | ast.Assign):
            continue
        text = ast.unparse(node)
        assert "matplotlib.use(" not in text, f"{path.name}: {text}"
        assert not re.match(r"pytensor\.config\.\w+\s*=", text), f"{path.name}: {text}"


def test_library_is_grouped_by_stage():
    flat = sorted(p.name for p in SRC.glob("*.py"))
    assert flat == ["__init__.py", "__main__.py", "api.py", "cli.py", "errors.py"]


STATISTIC_NAMES = r"(median|median_not_reached|rmean|logrank|landmark|hr|events)"
KIND_DISPATCH = re.compile(
    r"\.statistic\s*(==|!=|in)\s|\b(kind|statistic)\s*(==|!=)\s*[\"']"
    + STATISTIC_NAMES
    + r"[\"']|isinstance\([^)]*\b(MedianReached|MedianNotReached|RestrictedMean|LogRank|"
    r"Landmark|HazardRatio|EventCount)\b"
)


def test_no_dispatch_on_a_statistic_kind_outside_the_registry():
    offenders = []
    for path in MODULES:
        if path.parent.name == "published":  # the registry itself
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if KIND_DISPATCH.search(line):
                offenders.append(f"{path.relative_to(SRC)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)
