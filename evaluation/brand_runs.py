"""`brandscan eval brands DIR`: the analyzer and its floors on annotated brand documents, in one run."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from brandscan.engine.catalog import Catalog, load_catalog
from brandscan.engine.catalog.minimal import minimal_catalog
from brandscan.engine.config import AnalyzerConfig
from brandscan.evaluation.brand_baselines import RULES, baseline_prediction
from brandscan.evaluation.brand_marks import BrandDoc, read_brand_docs
from brandscan.evaluation.brand_scores import BrandFigures, prediction_from_report, score_document
from brandscan.evaluation.corpus_check import CorpusCheck, check_document

CatalogMode = Literal["full", "minimal"]
CATALOG_MODES: tuple[str, ...] = ("full", "minimal")
# The counts `eval brands` prints (corpus_check counts more).
EVAL_COUNTS: tuple[str, ...] = ("documents", "words", "explicit", "implicit", "distant", "nominal",
                                "first_person", "non_brand", "opinions")


def brand_catalog(folder: str | Path, catalog_mode: CatalogMode = "full") -> Catalog:
    """The folder's catalog.yaml, as written or reduced to what a new user would write."""
    catalog = load_catalog(Path(folder) / "catalog.yaml")
    return minimal_catalog(catalog) if catalog_mode == "minimal" else catalog


def model_figures(docs: Sequence[BrandDoc], catalog: Catalog, config: AnalyzerConfig) -> dict[str, float | int]:
    """The whole analysis of every document, scored against its gold."""
    from brandscan.engine.pipeline import Analyzer

    analyzers: dict[str | None, Analyzer] = {}
    figures = BrandFigures()
    for doc in docs:
        if doc.author not in analyzers:
            # Documents with an author header are read as `--author BRAND` would read them.
            analyzers[doc.author] = Analyzer(catalog, config.replace(author=doc.author))
        report = analyzers[doc.author].analyze_text(doc.text, doc.name)
        score_document(doc, catalog, prediction_from_report(report), figures)
    return figures.as_dict()


def floor_figures(docs: Sequence[BrandDoc], catalog: Catalog) -> dict[str, dict[str, float | int]]:
    """Every baseline rule (nearest brand, most frequent brand) scored on the same documents."""
    systems: dict[str, dict[str, float | int]] = {}
    for rule in RULES:
        figures = BrandFigures()
        for doc in docs:
            score_document(doc, catalog, baseline_prediction(doc.text, catalog, rule, doc.author), figures)
        systems[rule] = figures.as_dict()
    return systems


def evaluate_brands(folder: str | Path, catalog_mode: CatalogMode = "full",
                    config: AnalyzerConfig | None = None, with_model: bool = True) -> dict:
    """Counts of the gold, then the figures of the model and of every baseline rule, same documents."""
    docs = read_brand_docs(folder)
    catalog = brand_catalog(folder, catalog_mode)
    counted = CorpusCheck()
    for doc in docs:
        check_document(doc, catalog, counted)
    systems: dict[str, dict[str, float | int]] = {}
    if with_model:
        systems["model"] = model_figures(docs, catalog, config or AnalyzerConfig())
    systems.update(floor_figures(docs, catalog))
    return {"folder": str(folder), "catalog": catalog_mode,
            "counts": {key: counted.counts[key] for key in EVAL_COUNTS},
            "figures": systems}
