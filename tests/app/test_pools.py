"""Pools: every action read back from the database."""

from __future__ import annotations

import pytest


def stored_pool(name):
    from airflow.models import Pool

    return Pool.get_pool(name)


class TestPool:
    def test_original_readme_set_example(self, call):
        body = call(
            "pool", cmd="set", pool_name="myTestpool", slot_count="10", description="myTestpoolDescription"
        ).get_json()
        assert body["status"] == "OK", body
        pool = stored_pool("myTestpool")
        assert (pool.slots, pool.description) == (10, "myTestpoolDescription")

    def test_pool_description_spelling_and_update(self, call):
        call("pool", cmd="set", pool_name="p", slot_count="1", pool_description="one")
        call("pool", cmd="set", pool_name="p", slot_count="2", pool_description="two")
        assert (stored_pool("p").slots, stored_pool("p").description) == (2, "two")

    def test_get_list_delete(self, call):
        call("pool", cmd="set", pool_name="p", slot_count="3", pool_description="d")
        assert call("pool", get="p").get_json()["data"]["slots"] == 3
        names = [p["pool"] for p in call("pool").get_json()["data"]["pools"]]
        assert names == ["default_pool", "p"]
        assert call("pool", delete="p").get_json()["status"] == "OK"
        assert stored_pool("p") is None

    def test_missing_pool_is_404(self, call):
        assert call("pool", get="nope").status_code == 404
        assert call("pool", delete="nope").status_code == 404

    def test_default_pool_cannot_be_deleted(self, call):
        assert call("pool", delete="default_pool").status_code == 409
        assert stored_pool("default_pool") is not None

    @pytest.mark.parametrize(
        "args, field",
        [
            ({"cmd": "set", "pool_name": "p"}, "slot_count"),
            ({"cmd": "set", "pool_name": "p", "slot_count": "many"}, "slot_count"),
            ({"cmd": "set", "pool_name": "p", "slot_count": "-5"}, "slot_count"),
            ({"cmd": "set", "slot_count": "1"}, "pool_name"),
            ({"cmd": "drop"}, "cmd"),
            ({"cmd": "set", "pool_name": "bad name!", "slot_count": "1"}, "pool_name"),
        ],
    )
    def test_invalid_set_is_400_and_changes_nothing(self, call, args, field):
        body = call("pool", **args).get_json()
        assert body["http_response_code"] == 400
        assert field in body["data"]["errors"]
        assert call("pool").get_json()["data"]["total_entries"] == 1

    def test_two_actions_are_400(self, call):
        assert call("pool", get="a", delete="b").status_code == 400
