"""Compatibility alias of brandscan.evaluation.corpus_check (see this package's docstring)."""
from brandscan.evaluation.corpus_check import *  # noqa: F403
from brandscan.evaluation.corpus_check import check_corpus  # noqa: F401
