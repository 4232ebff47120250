"""The app's helper modules use each other through public names only."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def private_uses(path: Path) -> list[str]:
    """`from ui.x import _name`, and `module._name` on a module imported from ui (tests included)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found, ui_modules = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "ui":
            for alias in node.names:
                if alias.name.startswith("_"):
                    found.append(f"from {node.module} import {alias.name}")
                if node.module == "ui":
                    ui_modules.add(alias.asname or alias.name)
    for node in ast.walk(tree):
        attribute_of_ui = (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                           and node.value.id in ui_modules)
        if attribute_of_ui and node.attr.startswith("_"):
            found.append(f"{node.value.id}.{node.attr}")
    return found


def test_no_module_reaches_into_a_ui_modules_private_names() -> None:
    files = [path for path in ROOT.rglob("*.py") if not {".git", ".venv", "artifacts"} & set(path.parts)]
    offenders = {str(path.relative_to(ROOT)): uses for path in files if (uses := private_uses(path))}
    assert offenders == {}
