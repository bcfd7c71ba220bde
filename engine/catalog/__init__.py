"""The brand catalogue: schema.py (the dataclasses), validate.py (reading and validating, one
`file:line:column` line per problem), loader.py (YAML with positions), minimal.py (a catalogue cut
to names only, for evaluation and augmentation).

    from brandscan.engine.catalog import load_catalog
"""
from __future__ import annotations

from brandscan.engine.catalog import schema
from brandscan.engine.catalog.schema import *  # noqa: F403  (the dataclasses: schema.__all__)
from brandscan.engine.catalog.validate import default_aspects, load_catalog, parse_catalog

__all__ = [*schema.__all__, "default_aspects", "load_catalog", "parse_catalog"]
