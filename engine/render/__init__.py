"""The HTML view of reports: html.py writes one self-contained page; assets/ holds its script and style."""
