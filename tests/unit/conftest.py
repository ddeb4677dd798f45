"""The fast layer: schemas, argv building, masking, output shapes and the registry, without Airflow's app or a
database. Any database connection made during a unit test fails it."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def no_database():
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    def refuse(*args, **kwargs):
        raise AssertionError("a unit test connected to a database: move it out of tests/unit")

    event.listen(Engine, "connect", refuse)
    yield
    event.remove(Engine, "connect", refuse)
