"""What the linker reports for an annotated brand document's text (bench/linking.py, tests)."""
from __future__ import annotations

from ..report import Mention
from .brand_marks import BrandDoc, GoldSpan, parse_brand_doc, read_brand_docs

__all__ = ["BrandDoc", "GoldSpan", "link_mentions", "parse_brand_doc", "read_brand_docs"]


def link_mentions(text: str, catalog, encoder, linker, tokenizer, budget: int,  # type: ignore[no-untyped-def]
                  author: str | None = None, options=None) -> list[Mention]:
    """Explicit mentions and linked candidates of one text, as the analyzer would report them."""
    import numpy as np

    from ..candidates import find_candidates
    from ..globals import select_global_tokens
    from ..linking import LinkingOptions, encode_for_linking, link_document
    from ..mentions import brand_lexicon, find_explicit
    from ..passages import tokenize_document

    tokens = tokenize_document(text, tokenizer)
    explicit = find_explicit(text, brand_lexicon(catalog), catalog)
    markers = np.flatnonzero(tokens.is_marker).tolist()
    anchors = [(tokens.token_span(m.start, m.end)[0], m.brand) for m in explicit]
    positions = np.asarray(select_global_tokens(tokens.n_tokens, markers, anchors, budget), dtype=np.int64)
    encoded = encode_for_linking(encoder, tokens, positions)
    candidates = find_candidates(text, explicit, catalog, author)
    result = link_document(tokens, explicit, candidates, encoded, positions, catalog, linker,
                           options or LinkingOptions())
    decided = {(m.start, m.end) for m in result.mentions}
    mentions = [Mention("", m.brand, m.kind, m.start, m.end, m.text, 0) for m in explicit
                if (m.start, m.end) not in decided]
    return sorted(mentions + list(result.mentions), key=lambda m: (m.start, m.end))
