"""The house rules of the layout, checked on the source: which package may import what, what lives in
`pages/`, no import circle, and each contract limit defined once (in `ueba_api.limits`)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ueba_api import limits

ROOT = Path(__file__).resolve().parents[2]
PRODUCT_PACKAGES = ("ueba_api", "ueba_server", "ui", "pages")
HEAVY_MODULES = ("fastapi", "uvicorn", "sklearn", "streamlit", "ueba_server", "ui", "pages")


def product_files() -> list[Path]:
    files = [ROOT / "app.py"]
    for package in PRODUCT_PACKAGES:
        files += sorted((ROOT / package).rglob("*.py"))
    return files


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, *, top_level_only: bool = False) -> set[str]:
    """Every module a file imports, at the top or inside a function (a lazy import is still a dependency);
    `top_level_only`: only those imported when the module itself is."""
    tree = ast.parse(path.read_text(), str(path))
    nodes = tree.body if top_level_only else ast.walk(tree)
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(path): path for path in product_files()}
    return {
        name: {imported for imported in imported_modules(path) if imported in modules and imported != name}
        for name, path in modules.items()
    }


def test_importing_the_client_loads_no_server_ui_or_streamlit():
    probe = ("import json, sys, ueba_api, ueba_api.frames, ueba_api.charts, ueba_api.review, "
             "ueba_api.coverage, ueba_api.periods, ueba_api.quality; print(json.dumps(sorted(sys.modules)))")
    loaded = json.loads(subprocess.run([sys.executable, "-c", probe], cwd=ROOT, check=True,
                                       capture_output=True, text=True).stdout)
    heavy = [name for name in loaded if name.split(".")[0] in HEAVY_MODULES]
    assert heavy == []


# The command line's `--embedded DATA_DIR` starts the reference server: the one import of it from ueba_api,
# inside the function that needs it (never at a module's top), so only that option needs the server wing.
LAZY_ALLOWED = {ROOT / "ueba_api" / "cli" / "session.py": ("ueba_server.launch",)}


def test_importing_the_client_loads_no_command_line_libraries():
    probe = ("import json, sys, ueba_api, ueba_api.gate, ueba_api.report, ueba_api.report_data; "
             "print(json.dumps(sorted(sys.modules)))")
    loaded = json.loads(subprocess.run([sys.executable, "-c", probe], cwd=ROOT, check=True,
                                       capture_output=True, text=True).stdout)
    # Not rich (nor click): httpx imports both itself when they are installed, for its own command line.
    assert [name for name in loaded if name.split(".")[0] in ("typer", "vl_convert")] == []


def test_the_command_line_loads_the_server_only_for_embedded():
    probe = "import json, sys, ueba_api.cli.app; print(json.dumps(sorted(sys.modules)))"
    loaded = json.loads(subprocess.run([sys.executable, "-c", probe], cwd=ROOT, check=True,
                                       capture_output=True, text=True).stdout)
    assert [name for name in loaded if name.split(".")[0] in HEAVY_MODULES] == []


@pytest.mark.parametrize("package", ["ueba_api", "ueba_server", "ui"])
def test_packages_import_only_what_their_wing_may(package):
    forbidden = {"ueba_api": ("ueba_server", "ui", "pages", "streamlit", "fastapi", "uvicorn", "sklearn"),
                 "ueba_server": ("ui", "pages", "streamlit"),
                 "ui": ("pages",)}[package]
    offenders = {}
    for path in (ROOT / package).rglob("*.py"):
        lazy = set(LAZY_ALLOWED.get(path, ()))
        names = {name for name in imported_modules(path) if name.split(".")[0] in forbidden}
        names -= {name for name in lazy if name not in imported_modules(path, top_level_only=True)}
        # `from ueba_server.launch import x` also names ueba_server.launch.x: allowed with its module.
        names -= {name for name in names if any(name.startswith(module + ".") for module in lazy)}
        offenders[str(path.relative_to(ROOT))] = sorted(names)
    assert {path: names for path, names in offenders.items() if names} == {}


def test_pages_holds_only_the_pages_app_lists():
    listed = set()
    for node in ast.walk(ast.parse((ROOT / "app.py").read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "Page":
            listed.add(node.args[0].value)
    on_disk = {f"pages/{path.name}" for path in (ROOT / "pages").iterdir() if path.name != "__pycache__"}
    assert on_disk == listed


def test_no_import_circle():
    graph = import_graph()
    circles = []

    def visit(name: str, trail: list[str]) -> None:
        for imported in sorted(graph[name]):
            if imported in trail:
                circles.append([*trail[trail.index(imported):], imported])
            elif imported not in done:
                visit(imported, [*trail, imported])
        done.add(name)

    done: set[str] = set()
    for name in sorted(graph):
        if name not in done:
            visit(name, [name])
    assert circles == []


def limit_values() -> dict[str, int]:
    return {name: value for name, value in vars(limits).items() if name.isupper()}


def test_each_limit_is_named_only_in_the_limits_module():
    names = set(limit_values())
    redefined = []
    for path in product_files():
        if path == ROOT / "ueba_api" / "limits.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                redefined += [f"{path.name}: {target.id}" for target in targets
                              if isinstance(target, ast.Name) and target.id in names]
    assert redefined == []


# Values distinctive enough that a literal of them outside limits.py is a second definition. The bin
# counts (50, 1,000) are common numbers, so only their use as a widget's or a query's bound is checked.
DISTINCT_LIMITS = ("MIN_TRAINING_CONNECTIONS", "MAX_COMMENT_LENGTH", "MAX_BODY_BYTES")
BOUND_KEYWORDS = {"bin_count", "max_value", "le", "max_length", "max_chars", "value"}


def test_no_limit_is_written_as_a_number_elsewhere():
    values = limit_values()
    distinct = {values[name] for name in DISTINCT_LIMITS}
    bins = {values["DEFAULT_HISTOGRAM_BINS"], values["MAX_HISTOGRAM_BINS"], values["MAX_EXCLUDED_PERIODS"]}
    found = []
    for path in product_files():
        if path == ROOT / "ueba_api" / "limits.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and type(node.value) is int and node.value in distinct:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value}")
            if isinstance(node, ast.BinOp) and ast.unparse(node) == "1024 * 1024":
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: 1024 * 1024")
            if isinstance(node, ast.keyword) and node.arg in BOUND_KEYWORDS \
                    and isinstance(node.value, ast.Constant) and node.value.value in bins:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.arg}={node.value.value}")
    assert found == []
