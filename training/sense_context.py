"""Fit the words-around-the-name sense prior (engine/stages/linking/sense_context.py) on the brand
corpus (and on more annotated folders, such as GUM's renamed entities), and choose its weight and offset
against the shipped sense module on held-out documents.

Labels come from the gold: an ambiguous name overlapping an explicit mark is the brand, one overlapping
`[[x|-]]` is not. The table is fit on the training documents the linking head fit on (the same seeded
split, training/held_out.py) and on every document of the extra folders; the weight and offset are chosen
on the corpus's held-out documents, where the sense module's own logits are read through the engine's
front half: the best balanced accuracy (brand uses kept, other uses rejected), as the head's own sense
shift was chosen."""
from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from brandscan.engine.catalog import Catalog
from brandscan.engine.stages.candidates import Candidate, candidate_tables, find_candidates
from brandscan.engine.stages.linking.sense_context import SenseContext, context_rows
from brandscan.engine.stages.mentions import brand_lexicon, find_explicit
from brandscan.engine.text.passages import tokenize_document
from brandscan.evaluation.brand_marks import BrandDoc
from brandscan.training.linking_head import sense_gold, sense_label

EPOCHS = 3
LR = 0.05
BATCH = 256
WEIGHTS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0)
OFFSETS = tuple(x / 4 for x in range(-16, 17))  # the grid calibrate() uses for the head's shifts


@dataclass
class SenseItems:
    """Ambiguous names with a gold sense: their context rows and label (1 brand, 0 other)."""
    rows: list[np.ndarray] = field(default_factory=list)
    labels: list[float] = field(default_factory=list)

    def add(self, doc: BrandDoc, input_ids: np.ndarray, span: tuple[int, int], c: Candidate) -> bool:
        """Keep the name where the gold marks its sense (the linking head's labels: training/linking_head.py)."""
        label = sense_label(c, sense_gold(doc))
        if label < 0:
            return False
        self.rows.append(context_rows(input_ids, *span))
        self.labels.append(float(label))
        return True


def training_items(docs: Sequence[BrandDoc], catalog: Catalog, tokenizer,  # type: ignore[no-untyped-def]
                   into: SenseItems | None = None) -> SenseItems:
    """The engine's own ambiguous-name candidates of each document (no encoder needed), added to `into`."""
    items = into if into is not None else SenseItems()
    lexicon, tables = brand_lexicon(catalog), candidate_tables(catalog)
    for doc in docs:
        tokens = tokenize_document(doc.text, tokenizer)
        explicit = find_explicit(doc.text, lexicon, catalog)
        for c in find_candidates(doc.text, explicit, tables, author=doc.author):
            if c.kind == "alias":
                items.add(doc, tokens.input_ids, tokens.token_span(c.start, c.end), c)
    return items


def fit(items: SenseItems, seed: int, log: Callable[[str], None] = print) -> SenseContext:
    """The table and bias by logistic loss, Adam, seeded batch order."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    model = SenseContext()
    optimizer = torch.optim.Adam(list(model.parameters()), lr=LR)
    labels = torch.tensor(items.labels, dtype=torch.float32)
    order = list(range(len(items.rows)))
    for epoch in range(EPOCHS):
        rng.shuffle(order)
        total = 0.0
        for at in range(0, len(order), BATCH):
            batch = order[at:at + BATCH]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model([items.rows[i] for i in batch]),
                                                                        labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(batch)
        log(f"sense context epoch {epoch}: loss {total / max(len(order), 1):.4f}")
    return model.eval()


def balanced(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean of brand uses kept (logit >= 0) and other uses rejected."""
    keep = logits >= 0
    return float(0.5 * (keep[labels == 1].mean() + (~keep[labels == 0]).mean()))


def choose(model: SenseContext, head_logits: np.ndarray, items: SenseItems) -> dict[str, float]:
    """Set the model's weight and offset for the best held-out balanced accuracy of head + weight x prior
    + offset (ties: the smaller offset, then the smaller weight); the figures before and after."""
    labels = np.asarray(items.labels)
    with torch.no_grad():
        prior = model(items.rows).numpy()
    scores = {(w, b): round(balanced(head_logits + w * prior + b, labels), 4) for w in WEIGHTS for b in OFFSETS}
    w, b = max(scores, key=lambda k: (scores[k], -abs(k[1]), -k[0]))
    model.weight.fill_(w)
    model.offset.fill_(b)
    keep = head_logits + w * prior + b >= 0
    return {"weight": w, "offset": b, "held_out_names": len(labels),
            "held_out_balanced_before": round(balanced(head_logits, labels), 4),
            "held_out_balanced": scores[(w, b)],
            "held_out_brand_kept": round(float(keep[labels == 1].mean()), 4),
            "held_out_other_rejected": round(float((~keep[labels == 0]).mean()), 4),
            "held_out_prior_alone": round(balanced(prior, labels), 4)}
