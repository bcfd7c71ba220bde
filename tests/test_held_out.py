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
