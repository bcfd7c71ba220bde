"""brandscan's engine: documents in, reports out. Usable without the CLI.

    from brandscan.engine import Analyzer
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

# MKL's strict reproducibility mode: float32 products add up in the same order whatever the thread
# count, so reports do not depend on --threads or --jobs (tests/test_determinism.py; without it an
# Intel CPU gave differing probabilities in the 4th decimal). Read when MKL first runs, so it is set
# before any engine module computes; no cost measured (bench/README.md). A user's own value wins.
os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")

__all__ = ["Analyzer", "AnalyzerConfig", "BrandscanError"]

if TYPE_CHECKING:  # pragma: no cover
    from brandscan.engine.errors import BrandscanError
    from brandscan.engine.pipeline import Analyzer, AnalyzerConfig


def __getattr__(name: str) -> Any:
    # Lazy so that `import brandscan.engine.catalog.schema` (and `brandscan --help`) never pulls in torch.
    if name in ("Analyzer", "AnalyzerConfig"):
        from brandscan.engine import pipeline

        return getattr(pipeline, name)
    if name == "BrandscanError":
        from brandscan.engine.errors import BrandscanError

        return BrandscanError
    raise AttributeError(name)
