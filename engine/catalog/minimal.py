"""A catalogue cut to what a new user would write, for evaluation (`eval brands --catalog minimal`)
and for training (brand_augment): both import it from here."""
from __future__ import annotations

import dataclasses
import hashlib
import json

from brandscan.engine.catalog.schema import Brand, Catalog


def minimal_catalog(catalog: Catalog) -> Catalog:
    """The catalogue a new user would write: names, aliases, products, handles, category, ambiguous.
    The optional hints (brand nouns, product nouns, context words, number) are dropped."""
    def strip(brand: Brand) -> Brand:
        products = tuple(dataclasses.replace(p, noun=None) for p in brand.products)
        return dataclasses.replace(brand, nouns=(brand.category,) if brand.category else (), context=(),
                                   number="singular", products=products)

    brands = tuple(strip(b) for b in catalog.brands)
    content = {"brands": [dataclasses.asdict(b) for b in brands],
               "aspects": [dataclasses.asdict(a) for a in catalog.aspects]}
    digest = hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()
    return Catalog(source=f"{catalog.source} (minimal)", brands=brands, aspects=catalog.aspects, sha256=digest)
