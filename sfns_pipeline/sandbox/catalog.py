"""The distributor's product catalogue, shared by both sandboxes' seed data so SKUs match across systems."""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal

_FAMILIES = {
    "FAS": ("Fasteners", ["Hex bolt", "Carriage bolt", "Lock washer", "Wing nut", "Anchor screw", "Rivet"]),
    "PLB": ("Plumbing", ["Ball valve", "Copper elbow", "PEX coupling", "Pipe clamp", "Check valve", "Tee fitting"]),
    "ELC": ("Electrical", ["Junction box", "Wire connector", "Conduit strap", "Breaker", "Cable tie", "GFCI outlet"]),
    "SAF": ("Safety", ["Nitrile gloves", "Safety glasses", "Ear plugs", "Hi-vis vest", "Hard hat", "Dust mask"]),
    "JAN": ("Janitorial", ["Trash liner", "Paper towel", "Floor cleaner", "Mop head", "Hand soap", "Spray bottle"]),
}
_SIZES = ["S", "M", "L", "XL", "1/4in", "3/8in", "1/2in", "3/4in", "1in", "case/12", "case/50", "pallet"]


@dataclass(frozen=True)
class CatalogProduct:
    """One stock item: the SKU is the join key between Product2.StockKeepingUnit and NetSuite item.itemid."""

    sku: str
    name: str
    family: str
    unit_price: Decimal


def distributor_catalog(seed: int = 7, count: int = 240) -> list[CatalogProduct]:
    """A deterministic catalogue of ``count`` products (same seed, same SKUs and prices)."""
    rng = random.Random(seed)
    products: list[CatalogProduct] = []
    codes = sorted(_FAMILIES)
    for index in range(count):
        code = codes[index % len(codes)]
        family, names = _FAMILIES[code]
        base = names[rng.randrange(len(names))]
        size = _SIZES[rng.randrange(len(_SIZES))]
        price = Decimal(rng.randrange(25, 250_00)) / 100
        products.append(CatalogProduct(f"{code}-{index + 1:05d}", f"{base} {size}", family, price))
    return products
