"""An uploaded DAG file's name, reduced to a plain file name as old clients' uploads have always been named
(the rule of Werkzeug's secure_filename, which the core no longer imports)."""

from __future__ import annotations

import pytest

from rest_api_plugin.dag_files.uploads import plain_file_name, safe_name
from rest_api_plugin.errors import BadRequest


@pytest.mark.parametrize(
    "raw, plain",
    [
        ("my_dag.py", "my_dag.py"),
        ("my dag.py", "my_dag.py"),
        ("a  b\tc.py", "a_b_c.py"),
        ("café.py", "cafe.py"),
        ("../../etc/passwd", "etc_passwd"),
        ("._hidden.py", "hidden.py"),
        ("x.py..", "x.py"),
        ("日本.py", "py"),
        ("ﬁle.py", "file.py"),
        ("a;rm -rf $HOME.py", "arm_-rf_HOME.py"),
        ("", ""),
    ],
)
def test_plain_file_name(raw, plain):
    assert plain_file_name(raw) == plain


@pytest.mark.parametrize("raw, name", [("C:\\Users\\me\\my dag.py", "my_dag.py"), ("/tmp/x/dag.py", "dag.py")])
def test_a_client_path_keeps_its_last_part(raw, name):
    assert safe_name(raw) == name


@pytest.mark.parametrize("raw", ["dag.txt", ".py", "日本.py", "dag\n.py", "...py"])
def test_what_is_no_python_file_name_is_refused(raw):
    with pytest.raises(BadRequest):
        safe_name(raw)
