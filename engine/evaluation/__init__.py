"""Compatibility only: tests/test_corpus.py (owned by the corpus work, edited in parallel) still imports
`brandscan.engine.evaluation.corpus_check`. Evaluation lives in brandscan.evaluation; nothing in the
engine imports this package. Delete it when that test imports brandscan.evaluation.corpus_check."""
