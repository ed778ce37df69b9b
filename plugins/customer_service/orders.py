"""The store's orders database: SQLite in the plugin's data folder, seeded from ``data/orders.json``.

The database is built under a temporary name and linked into place only when complete, so
a crash during the first start never leaves a half-filled database, and two processes
starting at once cannot overwrite each other's copy. Every change the assistant makes is
a guarded ``UPDATE`` (it only applies while the order is still in a state that allows
it) plus a row in ``order_events``, so support staff can see what the assistant did.

A seed file may say which day its orders describe (``as_of``): the demo orders were written as
of one day, and their delivery estimates should not all turn late as real days pass. Live data
leaves it out, and today is the real date.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Iterator

from assistant.errors import DataFormatError

SCHEMA = """
CREATE TABLE customers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT,
    phone TEXT
);
CREATE TABLE orders (
    order_number TEXT PRIMARY KEY,
    customer_id TEXT REFERENCES customers(id),
    status TEXT NOT NULL,
    placed_at TEXT,
    total REAL NOT NULL,
    shipping_address TEXT NOT NULL,
    carrier TEXT,
    tracking_number TEXT,
    estimated_delivery TEXT,
    delivered_at TEXT
);
CREATE TABLE order_items (
    order_number TEXT NOT NULL REFERENCES orders(order_number),
    sku TEXT,
    name TEXT NOT NULL,
    qty INTEGER NOT NULL,
    unit_price REAL NOT NULL
);
CREATE TABLE store_facts (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE order_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    order_number TEXT NOT NULL REFERENCES orders(order_number),
    at REAL NOT NULL,
    event TEXT NOT NULL,
    detail TEXT NOT NULL
);
"""

#: Statuses in which an order has not left the warehouse, so it can still be cancelled or re-addressed.
CHANGEABLE_STATUSES = ("processing",)

ORDER_FIELDS = ("order_number", "customer_id", "status", "items", "total", "shipping_address")


@dataclass(frozen=True)
class Item:
    name: str
    qty: int
    unit_price: float


@dataclass(frozen=True)
class Order:
    number: str
    status: str
    customer_name: str | None
    items: tuple[Item, ...]
    total: float
    address: str
    carrier: str | None
    tracking_number: str | None
    estimated_delivery: str | None
    delivered_at: str | None
    placed_at: str | None

    @property
    def changeable(self) -> bool:
        return self.status in CHANGEABLE_STATUSES

    @property
    def item_count(self) -> str:
        count = sum(item.qty for item in self.items)
        return f"{count} item{'s' if count != 1 else ''}"

    @property
    def items_summary(self) -> str:
        return ", ".join(f"{item.qty} × {item.name}" if item.qty > 1 else item.name for item in self.items)


def _validate(data: object, path: Path) -> tuple[list[dict], list[dict]]:
    if not isinstance(data, dict) or not isinstance(data.get("orders"), list) or not isinstance(data.get("customers"), list):
        raise DataFormatError(str(path), "expected an object with 'customers' and 'orders' lists")
    for index, order in enumerate(data["orders"]):
        missing = [key for key in ORDER_FIELDS if not isinstance(order, dict) or order.get(key) in (None, "")]
        if missing:
            raise DataFormatError(str(path), f"order #{index + 1} lacks {', '.join(missing)}")
        if not (isinstance(order["order_number"], str) and order["order_number"].isdigit() and len(order["order_number"]) == 5):
            raise DataFormatError(str(path), f"order #{index + 1}: order_number must be a 5-digit string, not {order['order_number']!r}")
    if "as_of" in data:
        try:
            date.fromisoformat(data["as_of"])
        except (TypeError, ValueError):
            raise DataFormatError(str(path), f"'as_of' must be an ISO date like 2026-11-21, not {data['as_of']!r}") from None
    return data["customers"], data["orders"]


def build_database(source: Path, target: Path) -> None:
    """Create ``target`` from the JSON seed file, atomically; an existing database is kept."""
    try:
        data = json.loads(Path(source).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataFormatError(str(source), f"cannot read the orders seed file ({exc})") from exc
    customers, orders = _validate(data, Path(source))
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        _fill(tmp, customers, orders, source, data.get("as_of"))
        try:
            os.link(tmp, target)  # fails if another process created it first: keep theirs
        except FileExistsError:
            pass
    finally:
        Path(tmp).unlink(missing_ok=True)


def _fill(path: str, customers: list[dict], orders: list[dict], source: Path, as_of: str | None) -> None:
    db = sqlite3.connect(path)
    try:
        with db:
            db.executescript(SCHEMA)
            if as_of is not None:
                db.execute("INSERT INTO store_facts VALUES ('as_of', ?)", (as_of,))
            db.executemany(
                "INSERT INTO customers VALUES (:id, :name, :email, :phone)",
                [{"email": None, "phone": None} | c for c in customers],
            )
            for order in orders:
                optional = ("placed_at", "carrier", "tracking_number", "estimated_delivery", "delivered_at")
                db.execute(
                    "INSERT INTO orders VALUES (:order_number, :customer_id, :status, :placed_at, :total, "
                    ":shipping_address, :carrier, :tracking_number, :estimated_delivery, :delivered_at)",
                    {key: order.get(key) for key in optional} | order,
                )
                db.executemany(
                    "INSERT INTO order_items VALUES (?, ?, ?, ?, ?)",
                    [(order["order_number"], i.get("sku"), i["name"], i["qty"], i["unit_price"]) for i in order["items"]],
                )
    except (sqlite3.DatabaseError, KeyError, TypeError) as exc:
        raise DataFormatError(str(source), f"the orders could not be loaded ({exc!r})") from exc
    finally:
        db.close()


class OrderBook:
    """Reads and changes orders. One short-lived connection per call keeps it thread-safe."""

    def __init__(self, path: Path):
        self.path = Path(path)
        #: The seed's ``as_of`` (None for live data), read once: it never changes after the build.
        self._as_of: str | None = None
        self._as_of_read = False

    @classmethod
    def open(cls, folder: Path, seed: Path) -> "OrderBook":
        """The database in ``folder``, built from ``seed`` on first use."""
        path = Path(folder) / "orders.sqlite"
        if not path.exists():
            build_database(seed, path)
        return cls(path)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection that commits on success, rolls back on error and is always closed."""
        db = sqlite3.connect(self.path, timeout=30)
        db.row_factory = sqlite3.Row
        try:
            with db:
                yield db
        finally:
            db.close()

    def get(self, number: str) -> Order | None:
        with self._connect() as db:
            row = db.execute(
                "SELECT o.*, c.name AS customer_name FROM orders o LEFT JOIN customers c ON c.id = o.customer_id "
                "WHERE o.order_number = ?",
                (number,),
            ).fetchone()
            if row is None:
                return None
            items = db.execute("SELECT name, qty, unit_price FROM order_items WHERE order_number = ? ORDER BY rowid", (number,))
            return Order(
                number=row["order_number"],
                status=row["status"],
                customer_name=row["customer_name"],
                items=tuple(Item(r["name"], r["qty"], r["unit_price"]) for r in items),
                total=row["total"],
                address=row["shipping_address"],
                carrier=row["carrier"],
                tracking_number=row["tracking_number"],
                estimated_delivery=row["estimated_delivery"],
                delivered_at=row["delivered_at"],
                placed_at=row["placed_at"],
            )

    def today(self) -> date:
        """The day the orders describe: the seed's ``as_of`` if it had one, else the real date."""
        if not self._as_of_read:
            with self._connect() as db:
                try:
                    row = db.execute("SELECT value FROM store_facts WHERE key = 'as_of'").fetchone()
                except sqlite3.OperationalError:  # a database built before store_facts existed
                    row = None
            self._as_of, self._as_of_read = (row["value"] if row else None), True
        return date.fromisoformat(self._as_of) if self._as_of else date.today()

    def _guarded_update(self, number: str, assignment: str, values: tuple, event: str, detail: str) -> bool:
        placeholders = ", ".join("?" for _ in CHANGEABLE_STATUSES)
        with self._connect() as db:
            changed = db.execute(
                f"UPDATE orders SET {assignment} WHERE order_number = ? AND status IN ({placeholders})",
                (*values, number, *CHANGEABLE_STATUSES),
            ).rowcount
            if changed:
                db.execute(
                    "INSERT INTO order_events(order_number, at, event, detail) VALUES (?, ?, ?, ?)",
                    (number, time.time(), event, detail),
                )
        return bool(changed)

    def cancel(self, number: str) -> bool:
        """Cancel an order that has not shipped; False when it does not exist or can no longer be cancelled."""
        return self._guarded_update(number, "status = 'cancelled'", (), "cancelled", "cancelled by the customer in chat")

    def change_address(self, number: str, address: str) -> bool:
        """Re-address an order that has not shipped; False when it does not exist or has shipped."""
        return self._guarded_update(number, "shipping_address = ?", (address,), "address_changed", address)

    def events(self, number: str) -> list[tuple[str, str]]:
        with self._connect() as db:
            rows = db.execute("SELECT event, detail FROM order_events WHERE order_number = ? ORDER BY id", (number,))
            return [(r["event"], r["detail"]) for r in rows]
