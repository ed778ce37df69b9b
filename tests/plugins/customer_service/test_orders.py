"""The orders database: built once from the seed, atomically; changes only through guarded updates."""

from __future__ import annotations

import json
import sqlite3
from datetime import date

import pytest

from assistant.errors import DataFormatError
from plugins.customer_service.orders import OrderBook
from plugins.customer_service.plugin import DATA

SEED = DATA / "orders.json"


@pytest.fixture
def orders(tmp_path):
    return OrderBook.open(tmp_path, SEED)


def test_database_is_built_from_the_seed(orders, tmp_path):
    seed = json.loads(SEED.read_text(encoding="utf-8"))
    assert orders.path == tmp_path / "orders.sqlite"
    order = orders.get("10005")
    expected = next(o for o in seed["orders"] if o["order_number"] == "10005")
    assert order.status == expected["status"] and order.total == expected["total"]
    assert [(i.name, i.qty) for i in order.items] == [(i["name"], i["qty"]) for i in expected["items"]]
    assert order.customer_name == next(c["name"] for c in seed["customers"] if c["id"] == expected["customer_id"])
    with sqlite3.connect(orders.path) as db:
        assert db.execute("SELECT COUNT(*) FROM orders").fetchone()[0] == len(seed["orders"])
    assert orders.get("99999") is None
    assert [p.name for p in tmp_path.iterdir()] == ["orders.sqlite"]  # no temporary files left behind


def test_the_day_the_orders_describe_comes_from_the_seed(orders, tmp_path):
    assert orders.today() == date.fromisoformat(json.loads(SEED.read_text(encoding="utf-8"))["as_of"])
    live = tmp_path / "live.json"
    live.write_text(json.dumps({"customers": [], "orders": []}), encoding="utf-8")
    assert OrderBook.open(tmp_path / "live", live).today() == date.today()


def test_existing_database_is_kept_on_reopen(orders, tmp_path):
    assert orders.cancel("10007")
    reopened = OrderBook.open(tmp_path, SEED)
    assert reopened.get("10007").status == "cancelled"


def test_cancel_applies_only_to_orders_that_have_not_shipped(orders):
    assert orders.cancel("10012") is True
    assert orders.get("10012").status == "cancelled"
    assert orders.cancel("10012") is False  # already cancelled
    assert orders.cancel("10004") is False and orders.get("10004").status == "shipped"
    assert orders.cancel("99999") is False
    assert orders.events("10012") == [("cancelled", "cancelled by the customer in chat")]
    assert orders.events("10004") == []


def test_address_changes_only_before_shipping(orders):
    assert orders.change_address("10021", "9 Linden Court, Seattle, WA 98103")
    assert orders.get("10021").address == "9 Linden Court, Seattle, WA 98103"
    shipped = orders.get("10015").address
    assert not orders.change_address("10015", "1 Elsewhere Road")
    assert orders.get("10015").address == shipped


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{not json", "cannot read"),
        ('{"orders": []}', "'customers' and 'orders'"),
        ('{"customers": [], "orders": [{"order_number": "10001"}]}', "lacks customer_id"),
        (
            '{"customers": [], "orders": [{"order_number": "1001", "customer_id": "C1", "status": "shipped", '
            '"items": [{"name": "x", "qty": 1, "unit_price": 1}], "total": 1, "shipping_address": "a"}]}',
            "5-digit",
        ),
        ('{"as_of": "22 November", "customers": [], "orders": []}', "ISO date"),
    ],
)
def test_a_bad_seed_is_rejected_and_leaves_no_database(tmp_path, content, reason):
    seed = tmp_path / "orders.json"
    seed.write_text(content, encoding="utf-8")
    folder = tmp_path / "data"
    with pytest.raises(DataFormatError, match=reason):
        OrderBook.open(folder, seed)
    assert not (folder / "orders.sqlite").exists()
