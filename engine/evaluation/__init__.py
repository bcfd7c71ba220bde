"""Metrics: GAP's official F1, coreference antecedent accuracy by distance, brand-document scores."""
