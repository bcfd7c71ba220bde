"""Training data readers (GAP, GUM, LitBank) and the linking training loop."""
