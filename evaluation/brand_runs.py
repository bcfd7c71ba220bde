"""`brandscan eval brands DIR`: the analyzer and its floors on annotated brand documents, in one run."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from brandscan.engine.catalog import load_catalog
from brandscan.engine.catalog.minimal import minimal_catalog
from brandscan.engine.config import AnalyzerConfig
from brandscan.evaluation.brand_baselines import RULES, baseline_prediction
from brandscan.evaluation.brand_marks import read_brand_docs
from brandscan.evaluation.brand_scores import BrandFigures, prediction_from_report, score_document
from brandscan.evaluation.corpus_check import CorpusCheck, check_document

CatalogMode = Literal["full", "minimal"]
CATALOG_MODES: tuple[str, ...] = ("full", "minimal")
# The counts `eval brands` prints (corpus_check counts more).
EVAL_COUNTS: tuple[str, ...] = ("documents", "words", "explicit", "implicit", "distant", "nominal",
                                "first_person", "non_brand", "opinions")


def evaluate_brands(folder: str | Path, catalog_mode: CatalogMode = "full",
                    config: AnalyzerConfig | None = None, with_model: bool = True) -> dict:
    """Counts of the gold, then the figures of the model and of every baseline rule, same documents."""
    from brandscan.engine.pipeline import Analyzer

    folder = Path(folder)
    docs = read_brand_docs(folder)
    catalog = load_catalog(folder / "catalog.yaml")
    if catalog_mode == "minimal":
        catalog = minimal_catalog(catalog)
    counted = CorpusCheck()
    for doc in docs:
        check_document(doc, catalog, counted)
    systems: dict[str, BrandFigures] = {}
    if with_model:
        config = config or AnalyzerConfig()
        analyzers: dict[str | None, Analyzer] = {}
        figures = systems.setdefault("model", BrandFigures())
        for doc in docs:
            if doc.author not in analyzers:
                # Documents with an author header are read as `--author BRAND` would read them.
                analyzers[doc.author] = Analyzer(catalog, config.replace(author=doc.author))
            report = analyzers[doc.author].analyze_text(doc.text, doc.name)
            score_document(doc, catalog, prediction_from_report(report), figures)
    for rule in RULES:
        figures = systems.setdefault(rule, BrandFigures())
        for doc in docs:
            score_document(doc, catalog, baseline_prediction(doc.text, catalog, rule, doc.author), figures)
    return {"folder": str(folder), "catalog": catalog_mode,
            "counts": {key: counted.counts[key] for key in EVAL_COUNTS},
            "figures": {name: f.as_dict() for name, f in systems.items()}}
