"""The arrows between our packages point one way (docs/decisions.md, issue 14).

    apitokens → accounts → audit → toolkit      (and apitokens → audit; each → the toolkit)

The toolkit is ``tokens_admin`` but for its wiring (settings, the URL configurations, the
OpenAPI document of those URLs, wsgi, its commands), the only modules that know every app. A
``devtools`` app may import anything and nothing may import it. Every import counts: at the
top of a module, inside a function, or under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

TOOLKIT = "toolkit"
WIRING = "wiring"
# tokens_admin modules that know every app: the project's configuration, not its toolkit.
WIRING_MODULES = frozenset(
    {
        "tokens_admin.settings",
        "tokens_admin.urls",
        "tokens_admin.ui_urls",
        "tokens_admin.api_urls",
        "tokens_admin.wsgi",
    }
)
APPS = frozenset({"accounts", "apitokens", "audit"})
ALLOWED: dict[str, frozenset[str]] = {
    TOOLKIT: frozenset(),
    "audit": frozenset({TOOLKIT}),
    "accounts": frozenset({"audit", TOOLKIT}),
    "apitokens": frozenset({"accounts", "audit", TOOLKIT}),
    WIRING: APPS | {TOOLKIT, WIRING},
    "devtools": APPS | {TOOLKIT, WIRING, "devtools"},
}


def packages() -> list[str]:
    """Every first-party app folder: a top-level package with an ``apps.py``."""
    return sorted(p.parent.name for p in ROOT.glob("*/apps.py"))


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> str | None:
    """The layer a module of ours belongs to; None for anything not ours."""
    top = module.split(".")[0]
    if top == "tokens_admin":
        wiring = module in WIRING_MODULES or module.startswith("tokens_admin.management")
        return WIRING if wiring else TOOLKIT
    if top in ALLOWED or top in packages():  # an unknown app is refused by violations_in
        return top
    return None


def _is_module(dotted: str) -> bool:
    path = ROOT.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imported(tree: ast.AST, module: str, is_package: bool) -> Iterator[tuple[int, str]]:
    """(line, dotted name) of every import anywhere in the tree, relative ones resolved;
    ``from x import y`` names ``x.y`` when that is a module of ours (``from tokens_admin
    import urls`` imports the wiring, not the toolkit)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".")
                package = package if is_package else package[:-1]
                package = package[: len(package) - node.level + 1]
                base = ".".join([*package, base] if base else package)
            for alias in node.names:
                full = f"{base}.{alias.name}" if base else alias.name
                yield node.lineno, full if _is_module(full) else base


@dataclass(frozen=True)
class Violation:
    where: str
    line: int
    layer: str
    target: str
    target_layer: str

    def __str__(self) -> str:
        allowed = ", ".join(sorted(ALLOWED[self.layer])) or "nothing of ours"
        return (
            f"{self.where}:{self.line}: {self.layer} imports {self.target} "
            f"({self.target_layer}); {self.layer} may import: {allowed}"
        )


def violations_in(source: str, path: Path) -> list[Violation]:
    module = module_name(path)
    layer = layer_of(module)
    if layer is None:
        return []
    if layer not in ALLOWED:
        raise AssertionError(f"{module}: app {layer!r} has no place in the layers (ALLOWED)")
    found = []
    tree = ast.parse(source, filename=str(path))
    for line, target in imported(tree, module, path.name == "__init__.py"):
        target_layer = layer_of(target)
        if target_layer is None or target_layer == layer:
            continue
        if target_layer not in ALLOWED[layer]:
            where = str(path.relative_to(ROOT))
            found.append(Violation(where, line, layer, target, target_layer))
    return found


def product_files() -> list[Path]:
    return [
        path
        for package in packages()
        for path in sorted((ROOT / package).rglob("*.py"))
        if "migrations" not in path.relative_to(ROOT).parts
    ]


def test_every_arrow_between_packages_points_the_allowed_way():
    files = product_files()
    assert len(files) > 50  # the walk found the product
    violations = [
        str(v) for path in files for v in violations_in(path.read_text(encoding="utf-8"), path)
    ]
    assert violations == [], "\n".join(violations)


def test_the_known_apps_and_the_toolkit_are_all_walked():
    assert {"accounts", "apitokens", "audit", "tokens_admin"} <= set(packages())
    layers = {layer_of(module_name(path)) for path in product_files()}
    assert {TOOLKIT, WIRING, *APPS} <= layers


@pytest.mark.parametrize(
    ("path", "source"),
    [
        # A function-level import, the kind a quick fix leaves behind.
        ("tokens_admin/ui.py", "def f():\n    from accounts.access import Access\n"),
        ("audit/views.py", "import accounts.models\n"),
        (
            "audit/views.py",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import apitokens\n",
        ),
        ("accounts/services.py", "from apitokens.module_removal import remove_account_modules\n"),
        ("accounts/views.py", "from tokens_admin import urls\n"),
        ("apitokens/views.py", "from devtools import anything\n"),
        ("tokens_admin/urls.py", "import devtools.seeding\n"),
        ("audit/recorder.py", "from .. import accounts\n"),
    ],
)
def test_it_catches_an_arrow_against_the_direction(path, source):
    [violation] = violations_in(source, ROOT / path)
    assert violation.line >= 1


@pytest.mark.parametrize(
    ("path", "source"),
    [
        ("apitokens/views.py", "def f():\n    from accounts.access import Access\n"),
        ("accounts/services.py", "from audit.recorder import record\n"),
        ("audit/views.py", "from tokens_admin.requests import AppRequest\n"),
        ("tokens_admin/ui_urls.py", "from audit import views\n"),
        ("devtools/seeding.py", "from apitokens import services\nfrom tokens_admin import urls\n"),
        ("audit/views.py", "from . import export\n"),
    ],
)
def test_it_lets_the_allowed_arrows_through(path, source):
    assert violations_in(source, ROOT / path) == []


MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 50


def too_long(source: str, path: Path) -> list[str]:
    """The file, and each function of it, over its size limit (issue 14: a file you can read
    in one sitting, a function you can hold in your head)."""
    found = []
    lines = source.count("\n")
    if lines > MAX_FILE_LINES:
        found.append(f"{path}: {lines} lines (at most {MAX_FILE_LINES})")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                found.append(f"{path}:{node.lineno} {node.name}: {length} lines")
    return found


def test_product_files_and_functions_stay_small():
    found = [
        problem
        for path in product_files()
        for problem in too_long(path.read_text(encoding="utf-8"), path.relative_to(ROOT))
    ]
    assert found == [], "\n".join(found)


def test_it_catches_a_long_function_and_a_long_file():
    body = "".join(f"    x{n} = {n}\n" for n in range(60))
    assert too_long(f"def f():\n{body}", Path("a.py")) == ["a.py:1 f: 61 lines"]
    assert too_long("x = 1\n" * 401, Path("b.py")) == ["b.py: 401 lines (at most 400)"]
