"""Opinions about brands over the document pass: layout.py (sentences and clauses by token),
features.py (named pair and aspect features), aspects.py (the catalogue's aspects embedded),
pooling.py, opinion_head.py (tagger, attach, polarity, aspect), opinions.py (the report's opinions),
summary.py (per brand and aspect), model.py (the loaded opinion model). head.py is the MAMS
aspect-term polarity model that `eval absa` scores."""
