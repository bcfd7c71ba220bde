"""Text in: documents and their readers, HTML to text, tokenization with offsets, the matcher lexicon,
and words.py (sentence and clause splitting, stopwords, negators)."""
