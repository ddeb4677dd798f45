"""The import graph reads like the design: each module imports only from its own layer or the ones below,
and no module reaches into another's private names.

A layer is a set of folders and top-level modules. The two Airflow line folders hold each line's side of
several layers, so their modules are placed one by one (``LINE_MODULES``), the same for both lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent.parent / "rest_api_plugin"
PACKAGES = ("schemas", "services", "dag_files", "processes", "reference", "airflow2", "airflow3")
# Lowest first. A module may import from its own layer and those below it, never from one above.
LAYERS = [
    {"__init__", "airflow_compat", "errors", "config", "result", "output"},  # foundations
    {"request", "security", "masking"},  # who is calling, what is secret
    {"dag_files", "processes"},  # DAG files and processes: the mechanics behind the endpoints
    {"schemas"},  # arguments, the shape of every answer, the envelope
    {"services"},  # the endpoints' handlers
    {"registry"},  # the one declarative list
    {"reference", "audit", "permissions", "tokens"},  # what the registry drives
    {"dispatch"},  # one request through the pipeline
    {"plugin"},  # the front ends (and the line folders' front-end modules)
]
# airflow2/ and airflow3/: module -> the layer of what it implements (the same for both lines)
LINE_MODULES = {
    "__init__": 0,
    "auth": 1,  # the auth manager, for security
    "web_server": 2,
    "commands": 2,  # processes: wait slots, the commands that differ
    "parsing": 2,
    "template_rendering": 2,  # DAG files: parsing and storing, Airflow 3's render phase
    "runs": 2,  # triggering a run, for services
    "rendering": 4,  # render's line sides, for services
    "dags": 4,  # reading a DAG (details, next runs, the CLI's columns), for services
    "plugin": 8,
    "views": 8,
    "flask_adapter": 8,
    "api_sessions": 8,
    "gunicorn_headers": 8,  # the front ends
    "fastapi_app": 8,
    "fastapi_adapter": 8,
}
LAYER_OF = {name: index for index, names in enumerate(LAYERS) for name in names}


def modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).with_suffix("")
        yield ".".join(relative.parts), ast.parse(path.read_text())


def layer(module: str) -> int:
    """The layer of a module, given by its dotted name inside the package."""
    first, _, rest = module.partition(".")
    if first in ("airflow2", "airflow3"):
        return LINE_MODULES[rest.split(".", 1)[0] or "__init__"]
    return LAYER_OF[first]


def imported(tree) -> list[tuple[str, list[str]]]:
    """(module inside the package, names taken from it) for every import, at any depth."""
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "this_line"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):  # both lines' module of that name
            found += [(f"{line}.{node.args[0].value}", []) for line in ("airflow2", "airflow3")]
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("rest_api_plugin"):
            module = node.module[len("rest_api_plugin") :].lstrip(".") or "__init__"
            if module == "__init__" or module in PACKAGES:  # `from rest_api_plugin(.folder) import x`: x is a module
                prefix = "" if module == "__init__" else f"{module}."
                found += [(f"{prefix}{a.name}", []) for a in node.names if not a.name.startswith("__")]
                found += [(module, [a.name]) for a in node.names if a.name.startswith("__")]
            else:
                found.append((module, [a.name for a in node.names]))
    return found


@pytest.mark.parametrize("module, tree", list(modules()), ids=lambda value: value if isinstance(value, str) else "")
def test_imports_point_down(module, tree):
    own = layer(module)
    for target, _ in imported(tree):
        assert layer(target) <= own, f"{module} (layer {own}) imports {target} (layer {layer(target)})"


@pytest.mark.parametrize("module, tree", list(modules()), ids=lambda value: value if isinstance(value, str) else "")
def test_no_private_name_of_another_module(module, tree):
    aliases = set()
    for target, names in imported(tree):
        private = [name for name in names if name.startswith("_") and not name.startswith("__")]
        assert not private, f"{module} imports {private} from {target}"
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in (
            "rest_api_plugin",
            *(f"rest_api_plugin.{p}" for p in PACKAGES),
        ):
            aliases.update(a.asname or a.name for a in node.names)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            assert not (node.attr.startswith("_") and not node.attr.startswith("__")), (
                f"{module} uses {node.value.id}.{node.attr}"
            )


def test_every_module_has_a_layer():
    for module, _ in modules():
        layer(module)


def line_modules_chosen() -> set[str]:
    """The modules shared code asks ``this_line`` for."""
    return {
        target.split(".", 1)[1]
        for _, tree in modules()
        for target, _ in imported(tree)
        if target.startswith("airflow2.")
        and any(isinstance(node, ast.Call) and getattr(node.func, "id", "") == "this_line" for node in ast.walk(tree))
    }


def public_interface(path: Path) -> dict[str, tuple[str, ...] | None]:
    """A module's public top-level names: functions with their parameter names, constants (None)."""
    names: dict[str, tuple[str, ...] | None] = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
            names[node.name] = tuple(
                arg.arg for arg in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs)
            )
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                if isinstance(target, ast.Name) and target.id.isupper() and target.id in SHARED_CONSTANTS:
                    names[target.id] = None
    return names


# Constants shared code reads from a line's module (each line declares its own value).
SHARED_CONSTANTS = {"ALLOWED_COMMANDS", "RUN_UNAVAILABLE"}


@pytest.mark.parametrize(
    "name",
    sorted(
        LINE_MODULES.keys()
        - {
            "__init__",
            "views",
            "flask_adapter",
            "api_sessions",
            "gunicorn_headers",
            "fastapi_app",
            "fastapi_adapter",
            "template_rendering",
        }
    ),
)
def test_each_line_difference_has_one_module_per_line_with_one_interface(name):
    """What shared code asks ``this_line`` for exists in airflow2/ and in airflow3/, with the same functions
    (same parameters) and constants: one interface, two implementations."""
    two = [PACKAGE / line / f"{name}.py" for line in ("airflow2", "airflow3")]
    assert all(path.exists() for path in two), f"{name}.py must exist in airflow2/ and airflow3/"
    assert public_interface(two[0]) == public_interface(two[1]), name
    assert name in line_modules_chosen(), f"nothing asks this_line for {name}"


def test_the_line_is_read_only_where_it_is_declared():
    """Which Airflow line runs is read in airflow_compat (which chooses a line's modules), in the line folders
    themselves, and in one other place: the argument schemas' declared contract differences (what Airflow 3
    ignores or refuses, what Airflow 2 lacks), applied by schemas/base.py. Nowhere else."""
    readers = {}
    for module, tree in modules():
        if module.split(".", 1)[0] in ("airflow2", "airflow3") or module == "airflow_compat":
            continue
        reads = sum(1 for node in ast.walk(tree) if isinstance(node, ast.Name) and node.id == "AIRFLOW_3")
        if reads:
            readers[module] = reads
    assert readers == {"schemas.base": 2}, readers
