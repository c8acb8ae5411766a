"""The package layout is the data flow: no import cycles, imports point down the flow, the schema ships."""

from __future__ import annotations

import ast
import graphlib
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "evidence"
# Rank of each part of the package: a module may import its own part and parts of lower rank only.
RANKS = {
    "shared": 0,
    "acquire": 1,
    "images": 2,
    "parsers": 3,
    "analysis": 4,
    "pipeline": 5,
    "outputs": 6,
    "orchestration": 7,
    "cli": 8,
}


def _module(path: Path) -> str:
    return ".".join(path.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")


def _imports() -> dict[str, set[str]]:
    """Module -> modules of the package it imports anywhere (top level, functions, TYPE_CHECKING)."""
    modules = {_module(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        base = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                module = node.module or ""
                if node.level:
                    parts = base.split(".")[: len(base.split(".")) - node.level + 1]
                    module = ".".join([*parts, module] if module else parts)
                targets = [module] + [f"{module}.{a.name}" for a in node.names]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name and not name.startswith(target + ".") and target != "evidence":
                    graph[name].add(target)
    return graph


def _part(module: str) -> str:
    if module == "evidence.__main__":
        return "cli"
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in RANKS) else "shared"


def test_no_module_imports_in_a_cycle() -> None:
    graph = _imports()
    try:
        list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        pytest.fail(f"import cycle: {' -> '.join(exc.args[1])}")


def test_every_part_of_the_package_has_a_rank() -> None:
    parts = {_part(m) for m in _imports()} - {"shared"}
    parts |= {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert parts <= set(RANKS), sorted(parts - set(RANKS))


def test_imports_point_down_the_flow() -> None:
    wrong = [
        f"{module} imports {target}"
        for module, targets in _imports().items()
        for target in targets
        if RANKS[_part(target)] > RANKS[_part(module)]
    ]
    assert not wrong, wrong


def test_a_built_wheel_carries_the_schema(tmp_path: Path) -> None:
    """A non-editable install finds schemas/*.sql inside the package (evidence/schemas)."""
    root = SRC.parent
    built = subprocess.run(
        [sys.executable, "-m", "uv", "build", "--wheel", "--no-build-logs", "-o", str(tmp_path), str(root)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if built.returncode != 0 and "No solution found" in built.stderr + built.stdout:
        pytest.skip("no build backend available offline")
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = tmp_path.glob("*.whl")
    unpacked = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert {f"evidence/schemas/{p.name}" for p in (root / "schemas").glob("*.sql")} <= names
        templates = PACKAGE / "outputs" / "templates"
        assert {f"evidence/outputs/templates/{p.name}" for p in templates.iterdir() if p.is_file()} <= names
        # the phrase lists (stop requests, threats) the analysis reads from the package
        assert {f"evidence/phrases/{p.name}" for p in (PACKAGE / "phrases").glob("*.txt")} <= names
        archive.extractall(unpacked)  # our own freshly built wheel, not evidence
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); import evidence.db as db; "
        "print(db.schema_dir()); print(len(db.schema_sql()))"
    )
    shown = subprocess.run(
        [sys.executable, "-c", probe, str(unpacked)], capture_output=True, text=True, cwd=tmp_path, check=True
    )
    where, size = shown.stdout.split()
    assert Path(where).is_relative_to(unpacked) and int(size) > 1000


def test_staging_types_are_the_ones_duckdb_exports() -> None:
    """The Arrow types read from the schema catalog equal what DuckDB exports for every table."""
    from evidence.db import exported_arrow_schema, schema_catalog

    for table, schema in schema_catalog().arrow.items():
        assert schema.equals(exported_arrow_schema(table)), table
