"""The analysis stages, in the order the Analyzer calls them: mentions, candidates, encode (global
tokens + the one encoder pass), linking/, sentiment/. load.py loads the model parts they need."""
