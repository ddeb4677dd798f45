"""The plugin as operators install it: a wheel with its templates and entry point, safe to import anywhere."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

# what no metadata database changes: one pass (SQLite) runs it, the PostgreSQL passes leave it out
pytestmark = pytest.mark.same_on_every_database

ROOT = Path(__file__).parent.parent.parent


def test_plugin_module_does_not_pull_in_the_webserver():
    """The scheduler and workers import every plugin: importing ours must not load airflow.www."""
    code = (
        "import sys, rest_api_plugin.plugin as p; "
        "print(p.RestApiPlugin.name); "
        "print(sorted(m for m in sys.modules if m.startswith('airflow.www')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["rest_api_plugin", "[]"]


def test_entry_point_is_registered():
    from importlib.metadata import entry_points

    found = [ep for ep in entry_points(group="airflow.plugins") if ep.name == "rest_api_plugin"]
    assert [ep.value for ep in found] == ["rest_api_plugin.plugin:RestApiPlugin"]


def test_wheel_carries_templates_and_entry_point(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        check=True,
    )
    (wheel,) = tmp_path.glob("airflow_rest_api_plugin-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "rest_api_plugin/templates/rest_api_plugin/index.html" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[airflow.plugins]" in text and "rest_api_plugin.plugin:RestApiPlugin" in text
