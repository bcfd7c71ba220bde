"""`brandscan train operating-point`: the linker's default bias, chosen on held-out training documents
so that every implicit figure beats the nearest-brand and most-frequent floors."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from brandscan.cli.app import app
from brandscan.training.operating_point import IMPLICIT_FIGURES, choose_bias, shortfall

ROOT = Path(__file__).parents[1]
BRANDSCAN = Path(sys.executable).parent / "brandscan"
FIXTURES = Path(__file__).parent / "fixtures" / "brands_eval"
FLOORS = {"nearest": dict.fromkeys(IMPLICIT_FIGURES, 0.60), "most_frequent": dict.fromkeys(IMPLICIT_FIGURES, 0.50)}


def _linker(slope: float):  # type: ignore[no-untyped-def]
    """Accuracy that grows with the bias, as the head's does (more links)."""
    return lambda bias: dict.fromkeys(IMPLICIT_FIGURES, 0.55 + slope * bias)


def test_the_smallest_bias_that_beats_both_floors_by_the_margin():
    point = choose_bias(_linker(0.04), FLOORS, margin=0.01)
    assert point.bias == 1.5  # 0.55 + 0.06 = 0.61 >= 0.60 + 0.01; 1.25 gives 0.60
    assert sorted(point.tried) == [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5]


def test_a_linker_already_above_the_floors_is_moved_towards_fewer_links():
    point = choose_bias(_linker(0.04), {k: dict.fromkeys(IMPLICIT_FIGURES, 0.45) for k in FLOORS}, margin=0.01)
    assert point.bias == -2.25  # 0.55 - 0.09 = 0.46 >= 0.45 + 0.01; -2.5 gives 0.45
    assert shortfall(_linker(0.04)(-2.5), {k: dict.fromkeys(IMPLICIT_FIGURES, 0.45) for k in FLOORS}) \
        == dict.fromkeys(IMPLICIT_FIGURES, 0.01)


def test_no_bias_is_chosen_when_none_beats_the_floors():
    assert choose_bias(_linker(0.0), FLOORS, limit=1.0).bias is None


def test_one_figure_short_is_enough_to_go_on():
    def linker(bias: float) -> dict[str, float]:
        return {**dict.fromkeys(IMPLICIT_FIGURES, 0.9), "implicit_accuracy_distant": 0.55 + 0.1 * bias}

    assert choose_bias(linker, FLOORS).bias == 0.75


def test_dev_is_refused():
    # The installed command, so that the exit code is the one main() gives.
    done = subprocess.run([str(BRANDSCAN), "train", "operating-point", "--brands", "corpus/brands/dev"],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2, done.stderr
    assert done.stderr == ("brandscan: error: --brands corpus/brands/dev: corpus dev never trains anything "
                           "(give a train folder, e.g. corpus/brands/train)\n")


def test_the_command_moves_a_head_to_the_point_it_prints(tmp_path: Path):
    from brandscan.engine.model.loader import default_model_dir

    model = tmp_path / "model"
    model.mkdir()
    for name in ("config.json", "tokenizer.json", "model.safetensors", "calibration.txt"):
        (model / name).symlink_to(default_model_dir() / name)
    shutil.copytree(default_model_dir() / "heads", model / "heads")
    args = ["train", "operating-point", "--brands", str(FIXTURES), "--held-out", "0.5", "--model", str(model),
            "--dtype", "float32", "--catalog", "full", "--write"]
    result = CliRunner().invoke(app, args)
    summary = json.loads(result.stdout)
    tried = {float(b): f for b, f in summary["tried"].items()}
    floors = summary["floors"]
    beating = sorted(b for b, f in tried.items() if not shortfall(f, floors))
    if summary["bias"] is None:
        assert result.exit_code == 1 and not beating
        return
    assert result.exit_code == 0, result.output
    # The bias printed is the smallest tried that beats both floors; every smaller one tried is short.
    assert summary["bias"] == beating[0]
    assert all(shortfall(f, floors) for b, f in tried.items() if b < summary["bias"])
    recorded = json.loads((model / "heads/linking/figures.json").read_text())["operating_point"]
    assert recorded["none_shift"] == pytest.approx(recorded["none_shift_before"] - summary["bias"])
    # The moved head at --link-bias 0 analyses as the old head did at the chosen bias.
    moved = CliRunner().invoke(app, ["train", "operating-point", "--brands", str(FIXTURES), "--held-out", "0.5",
                                     "--model", str(model), "--dtype", "float32", "--catalog", "full"])
    again = json.loads(moved.stdout)
    assert again["tried"]["0"] == summary["tried"][f"{summary['bias']:g}"]


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
