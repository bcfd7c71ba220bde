"""What a command that changes a shipped head writes beside it: its figures under its own key in
figures.json, and its own section of the head's TRAINING_CARD.md.

`train linking-head` writes a fresh card and figures.json; `train sense-context` and `train
operating-point` then change the same head. Each of these writes only its own key and its own section
and keeps the rest, so whatever order they run in, the card says what every one of them did.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

CARD_FILE = "TRAINING_CARD.md"
FIGURES_FILE = "figures.json"


def record_figures(directory: Path, key: str, value: object) -> None:
    """Set `key` of the directory's figures.json to `value`, keeping every other key."""
    path = directory / FIGURES_FILE
    figures = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    figures[key] = value
    path.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def card_section(directory: Path, title: str, body: str) -> None:
    """Replace the card's `## title` section (up to the next `## ` heading) with `body`, or append it."""
    path = directory / CARD_FILE
    card = path.read_text(encoding="utf-8") if path.is_file() else ""
    section = f"## {title}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(card):
        card = pattern.sub(lambda _: section + "\n", card, count=1).rstrip() + "\n"
    else:
        card = (card.rstrip() + "\n\n" if card.strip() else "") + section
    path.write_text(card, encoding="utf-8")
