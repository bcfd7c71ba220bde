"""The layout's rules (docs/layout.md), checked on the source: imports flow one way, modules stay small."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imports(folder: str) -> list[tuple[Path, str]]:
    found = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                found.append((path, node.module))
            elif isinstance(node, ast.Import):
                found += [(path, alias.name) for alias in node.names]
    return found


def test_the_engine_never_imports_training_evaluation_or_the_cli() -> None:
    bad = [(p.relative_to(ROOT), m) for p, m in _imports("engine")
           if m.startswith(("brandscan.training", "brandscan.evaluation", "brandscan.cli"))]
    assert bad == []


def test_evaluation_never_imports_training() -> None:
    assert [(p.relative_to(ROOT), m) for p, m in _imports("evaluation") if m.startswith("brandscan.training")] == []


def test_no_module_over_400_lines() -> None:
    long = {}
    for folder in ("cli", "engine", "training", "evaluation", "tests", "bench"):
        for path in (ROOT / folder).rglob("*.py"):
            lines = path.read_text("utf-8").count("\n")
            if lines > 400:
                long[str(path.relative_to(ROOT))] = lines
    assert long == {}


def test_importing_the_cli_and_the_catalogue_does_not_import_torch() -> None:
    code = "import sys, brandscan.cli.app, brandscan.engine.catalog; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
