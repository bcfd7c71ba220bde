"""What the linker reports for an annotated brand document's text (bench/linking.py, tests)."""
from __future__ import annotations

from brandscan.engine.report import Mention
from brandscan.evaluation.brand_marks import BrandDoc, GoldSpan, parse_brand_doc, read_brand_docs

__all__ = ["BrandDoc", "GoldSpan", "link_mentions", "parse_brand_doc", "read_brand_docs"]


def link_mentions(text: str, catalog, encoder, linker, tokenizer, budget: int,  # type: ignore[no-untyped-def]
                  author: str | None = None, options=None, window: int | None = None) -> list[Mention]:
    """Explicit mentions and linked candidates of one text, as the analyzer would report them: the
    same front half (stages/encode.py) and the same linking call."""
    from brandscan.engine.stages.encode import FrontHalf, front_half
    from brandscan.engine.stages.linking.decide import LinkingOptions, link
    from brandscan.engine.stages.mentions import brand_lexicon

    setup = FrontHalf(catalog, brand_lexicon(catalog), tokenizer, author=author)
    state = front_half(text, setup, encoder, window=window or encoder.config.window, budget=budget)
    result = link(state, catalog, linker, options or LinkingOptions())
    decided = {(m.start, m.end) for m in result.mentions}
    mentions = [Mention("", m.brand, m.kind, m.start, m.end, m.text, 0) for m in state.explicit
                if (m.start, m.end) not in decided]
    return sorted(mentions + list(result.mentions), key=lambda m: (m.start, m.end))
