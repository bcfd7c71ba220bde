"""The loaded opinion model: head, config, and what the aspect table is built with (loaded by stages/load.py)."""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from brandscan.engine import report as report_types
from brandscan.engine.catalog import Catalog
from brandscan.engine.stages.sentiment.aspects import AspectTable, aspect_table
from brandscan.engine.stages.sentiment.opinion_head import OpinionHead, OpinionHeadConfig, load_opinion_head
from brandscan.engine.stages.sentiment.opinions import find_opinions
from brandscan.engine.text.passages import TokenizedDocument

if TYPE_CHECKING:  # pragma: no cover
    from brandscan.engine.stages.encode import EncodedStates

LINKING_MERGED = "linking/merged.json"


def document_encoder_id(heads_dir: Path, base_sha256: str) -> str:
    """What identifies the encoder of the document pass: the linking adapter's merged weights (their
    sha256 in heads/linking/merged.json), else the base model's sha256."""
    try:
        return str(json.loads((heads_dir / LINKING_MERGED).read_text(encoding="utf-8"))["sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        return base_sha256


class OpinionModel:
    """Finds a document's opinions from its encoder states; one per Analyzer (inference only)."""

    def __init__(self, head: OpinionHead, config: OpinionHeadConfig, encoder: torch.nn.Module, tokenizer: object,
                 window: int) -> None:
        self.head = head.eval()
        self.config = config
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.window = window
        self._tables: dict[str, AspectTable] = {}  # catalogue sha256 -> its aspect table

    @classmethod
    def load(cls, directory: Path, encoder: torch.nn.Module, tokenizer: object, window: int) -> OpinionModel:
        head, config = load_opinion_head(directory)
        return cls(head, config, encoder, tokenizer, window)

    def table(self, catalog: Catalog) -> AspectTable:
        """The catalogue's aspects, embedded once per catalogue."""
        if catalog.sha256 not in self._tables:
            self._tables[catalog.sha256] = aspect_table(catalog, self.encoder, self.tokenizer, self.window)
        return self._tables[catalog.sha256]

    def find(self, tokens: TokenizedDocument, states: EncodedStates, mentions: Sequence[report_types.Mention],
             catalog: Catalog) -> tuple[report_types.Opinion, ...]:
        """Opinions from the document pass's final states."""
        return find_opinions(tokens, states.last_hidden, mentions, self.table(catalog), self.head, self.config)
