"""A realistic job, stdlib only: for each of many generated JSON documents of orders, parse it,
aggregate it and pretty-print a report (the walk and the formatting are plain Python).
Scale = documents (40 orders each)."""

import json
import random
import sys

REGIONS = ("north", "south", "east", "west")
PRODUCTS = ("widget", "gadget", "doohickey", "sprocket", "gizmo", "flange")
ORDERS_PER_DOCUMENT = 40


def generate(n, rng):
    orders = []
    for i in range(n):
        items = [
            {"sku": rng.choice(PRODUCTS), "qty": rng.randint(1, 9), "price": round(rng.uniform(1, 50), 2)}
            for _ in range(rng.randint(1, 4))
        ]
        orders.append({"id": i, "region": rng.choice(REGIONS), "customer": f"c{rng.randint(1, n // 4 + 1)}", "items": items})
    return json.dumps({"version": 1, "orders": orders})


def order_total(order):
    total = 0.0
    for item in order["items"]:
        total += item["qty"] * item["price"]
    return total


def aggregate(document):
    by_region = {}
    by_product = {}
    for order in document["orders"]:
        region = order["region"]
        by_region[region] = by_region.get(region, 0.0) + order_total(order)
        for item in order["items"]:
            sku = item["sku"]
            by_product[sku] = by_product.get(sku, 0) + item["qty"]
    return by_region, by_product


def pretty(value, indent=0):
    """A small pretty-printer: nested dicts and lists, one key per line."""
    pad = "  " * indent
    if isinstance(value, dict):
        lines = []
        for key in sorted(value):
            inner = pretty(value[key], indent + 1)
            lines.append(f"{pad}{key}:\n{inner}" if "\n" in inner else f"{pad}{key}: {inner.strip()}")
        return "\n".join(lines)
    if isinstance(value, list):
        return "\n".join(f"{pad}- {pretty(v, indent + 1).strip()}" for v in value)
    if isinstance(value, float):
        return f"{pad}{value:,.2f}"
    return f"{pad}{value}"


def report(text):
    document = json.loads(text)
    by_region, by_product = aggregate(document)
    summary = {"orders": len(document["orders"]), "revenue by region": by_region, "units by product": by_product}
    return pretty(summary) + "\n" + pretty(document["orders"][:3])


def main(n):
    rng = random.Random(42)
    size = 0
    for _ in range(n):
        size += len(report(generate(ORDERS_PER_DOCUMENT, rng)))
    return size


print(main(int(sys.argv[1]) if len(sys.argv) > 1 else 10))
