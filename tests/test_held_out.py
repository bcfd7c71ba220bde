"""The held-out split of training documents stays put as the corpus grows."""
from pathlib import Path

from brandscan.training.held_out import is_held_out, split_by_name

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "brands" / "train"


def test_adding_documents_moves_no_document_between_fit_and_held_out() -> None:
    names = sorted(p.name for p in CORPUS.glob("*.md"))
    fit, held = split_by_name(names, str, 0.15, 0)
    grown_fit, grown_held = split_by_name(names + [f"forum_thread-new-{i}.md" for i in range(40)], str, 0.15, 0)
    assert set(held) <= set(grown_held) and set(fit) <= set(grown_fit)
    assert 0.05 < len(held) / len(names) < 0.3  # about the share asked for


def test_the_split_reads_the_file_name_not_its_folder() -> None:
    assert is_held_out("a/b/x.md", 0.5, 3) == is_held_out("/elsewhere/x.md", 0.5, 3)


def test_a_tiny_corpus_still_holds_one_document_out() -> None:
    fit, held = split_by_name(["a.md", "b.md"], str, 0.01, 0)
    assert len(held) == 1 and len(fit) == 1


def test_a_command_rewrites_its_own_card_section_and_figures_key_only(tmp_path):
    import json

    from brandscan.training.cards import card_section, record_figures

    (tmp_path / "TRAINING_CARD.md").write_text("# Card\n\n## Data\n\nthe corpus\n\n## Figures\n\nF1 0.5\n")
    (tmp_path / "figures.json").write_text(json.dumps({"held_out": {"f1": 0.5}}))
    card_section(tmp_path, "Operating point", "shift -2.25")
    card_section(tmp_path, "Sense context", "weight 1.5")
    card_section(tmp_path, "Operating point", "shift -2.0")  # a second run replaces its own section
    card = (tmp_path / "TRAINING_CARD.md").read_text()
    assert card.count("## Operating point") == 1 and "shift -2.0" in card and "-2.25" not in card
    assert card.index("## Data") < card.index("## Figures") < card.index("## Operating point") < card.index("## Sense")
    assert "the corpus" in card and "F1 0.5" in card and "weight 1.5" in card
    record_figures(tmp_path, "operating_point", {"bias": 1.25})
    assert json.loads((tmp_path / "figures.json").read_text()) == {"held_out": {"f1": 0.5},
                                                                    "operating_point": {"bias": 1.25}}
