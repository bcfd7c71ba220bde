"""Linking candidates to brands: decide.py (the document's decisions and the rules), head.py (the
learned ranking head and its features), attribution.py (attention rows, anchors and evidence)."""
