"""The import graph reads like the design: each module imports only from its own layer or the ones below,
and no module reaches into another's private names."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent.parent / "rest_api_plugin"
# Lowest first. A module may import from its own layer and those below it, never from one above.
LAYERS = [
    {"__init__", "airflow_compat", "errors", "config", "result", "output", "job_runner"},  # foundations
    {"dag_folder", "masking", "security", "request", "wait_slots", "cli", "argument_help"},  # shared services
    {"schemas", "jobs", "dag_parsing", "dag_processor", "template_rendering"},  # arguments, processes
    {"services"},  # the endpoints' handlers
    {"registry"},  # the one declarative list
    {"audit", "docs", "openapi", "page", "permissions"},  # what the registry drives
    {"dispatch"},  # one request through the pipeline
    {"flask_adapter", "fastapi_adapter", "views", "fastapi_app", "api_sessions", "gunicorn_headers", "plugin"},
]
LAYER_OF = {name: index for index, names in enumerate(LAYERS) for name in names}


def modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).with_suffix("")
        yield ".".join(relative.parts), ast.parse(path.read_text())


def top(name: str) -> str:
    return name.split(".", 1)[0]


def imported(tree) -> list[tuple[str, list[str]]]:
    """(module inside the package, names taken from it) for every import, at any depth."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("rest_api_plugin"):
            module = node.module[len("rest_api_plugin"):].lstrip(".") or "__init__"
            if module in ("__init__", "schemas", "services"):  # `from rest_api_plugin import x`: x is the module
                found += [(f"{module}.{a.name}".replace("__init__.", ""), []) for a in node.names
                          if not a.name.startswith("__")]
                found += [("__init__", [a.name]) for a in node.names if a.name.startswith("__")]
            else:
                found.append((module, [a.name for a in node.names]))
    return found


@pytest.mark.parametrize("module, tree", list(modules()), ids=lambda value: value if isinstance(value, str) else "")
def test_imports_point_down(module, tree):
    own = LAYER_OF[top(module)]
    for target, _ in imported(tree):
        assert LAYER_OF[top(target)] <= own, f"{module} (layer {own}) imports {target} (layer {LAYER_OF[top(target)]})"


@pytest.mark.parametrize("module, tree", list(modules()), ids=lambda value: value if isinstance(value, str) else "")
def test_no_private_name_of_another_module(module, tree):
    aliases = set()
    for target, names in imported(tree):
        private = [name for name in names if name.startswith("_") and not name.startswith("__")]
        assert not private, f"{module} imports {private} from {target}"
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in ("rest_api_plugin", "rest_api_plugin.services",
                                                                 "rest_api_plugin.schemas"):
            aliases.update(a.asname or a.name for a in node.names)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            assert not (node.attr.startswith("_") and not node.attr.startswith("__")), (
                f"{module} uses {node.value.id}.{node.attr}")


def test_every_module_has_a_layer():
    assert {top(module) for module, _ in modules()} <= set(LAYER_OF)
