"""brandscan's engine: documents in, reports out. Usable without the CLI.

    from brandscan.engine import Analyzer
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

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
