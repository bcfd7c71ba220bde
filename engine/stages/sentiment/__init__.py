"""Opinions about brands: head.py (the sentence-level polarity scorer), opinions.py (expressions,
aspects, and the per-brand summary)."""
