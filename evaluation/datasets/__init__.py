"""Dataset readers used by evaluation and by training (training imports them from here; evaluation
never imports training): ABSA (MAMS, SemEval), coreference (GUM, LitBank, and the shared
CorefDocument/LinkDocument units), GAP."""
