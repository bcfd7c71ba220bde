"""Evaluation: metrics (GAP's official F1, coreference antecedent accuracy by distance, brand-document
scores and their baselines), the `eval` runners, the brand corpus checker, and datasets/ (readers
that training also uses). Imports the engine, which never imports it; never imports training."""
