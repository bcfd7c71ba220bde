"""Training: the linking and sentiment loops, distant and augmented variants, the GUM brand set.

Imports the engine (and evaluation's dataset readers and linking_items); the engine never imports it,
and evaluation never does either."""
