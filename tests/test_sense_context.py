"""The words around an ambiguous name (engine/stages/linking/sense_context.py, `train sense-context`)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from brandscan.cli.app import app
from brandscan.engine.stages.linking.sense_context import (
    BUCKETS,
    SENSE_CONTEXT_FILE,
    SIDE,
    context_rows,
    load_sense_context,
)

FIXTURES = Path(__file__).parent / "fixtures" / "brands_eval"


def test_context_rows_read_the_pieces_beside_the_name_and_nothing_further():
    ids = np.arange(100, 120)
    rows = context_rows(ids, 8, 10)
    assert rows.dtype == np.int64 and ((rows >= 0) & (rows < BUCKETS)).all()
    assert len(rows) == 2 * SIDE * 2 + 3  # per side: slots and bag; across and two pairs
    changed = ids.copy()
    changed[8 - SIDE - 1] = 7  # just outside the window before
    changed[10 + SIDE] = 7  # just outside the window after
    assert context_rows(changed, 8, 10).tolist() == rows.tolist()
    changed[8] = 7  # the name itself is not read
    assert context_rows(changed, 8, 10).tolist() == rows.tolist()
    changed[7] = 7  # the piece right before the name
    assert context_rows(changed, 8, 10).tolist() != rows.tolist()


def test_names_at_the_edges_of_the_document_have_rows():
    ids = np.array([101, 2000, 102])
    assert len(context_rows(ids, 0, 1)) > 0 and len(context_rows(ids, 2, 3)) > 0


def test_the_shipped_linker_reads_the_shipped_prior():
    from brandscan.engine.model.loader import default_model_dir

    model = load_sense_context(default_model_dir() / "heads" / "linking" / SENSE_CONTEXT_FILE)
    assert model is not None and float(model.weight) > 0


def test_train_sense_context_writes_a_prior_the_engine_loads(tmp_path: Path):
    from brandscan.engine.model.loader import default_model_dir

    out = tmp_path / "linking"
    shutil.copytree(default_model_dir() / "heads" / "linking", out)
    (out / SENSE_CONTEXT_FILE).unlink()
    # Of the fixtures only the retail review has ambiguous names (two other uses, one brand use): it is
    # the held-out document at --held-out 0.2, and a copy of it in a --more folder trains the table.
    more = tmp_path / "more"
    more.mkdir()
    shutil.copyfile(FIXTURES / "catalog.yaml", more / "catalog.yaml")
    shutil.copyfile(FIXTURES / "retail_review.md", more / "retail_review_copy.md")
    args = ["train", "sense-context", "--brands", str(FIXTURES), "--held-out", "0.2", "--out", str(out)]
    refused = CliRunner().invoke(app, args)
    assert refused.exit_code != 0 and "need brand and other uses" in str(refused.exception)
    result = CliRunner().invoke(app, [*args, "--more", str(more)])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["training_names"] == 3 and figures["held_out_names"] == 3
    assert 0.0 <= figures["held_out_balanced_before"] <= 1.0 and figures["held_out_balanced"] == 1.0
    prior = load_sense_context(out / SENSE_CONTEXT_FILE)
    assert prior is not None and float(prior.weight) == figures["weight"] and float(prior.offset) == figures["offset"]
    assert json.loads((out / "figures.json").read_text())["sense_context"]["weight"] == figures["weight"]


def test_dev_is_refused_as_more_training_data():
    import subprocess
    import sys

    done = subprocess.run([str(Path(sys.executable).with_name("brandscan")), "train", "sense-context", "--brands",
                           "corpus/brands/train", "--more", "corpus/brands/dev"],
                          capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert done.returncode == 2
    assert done.stderr == ("brandscan: error: --more corpus/brands/dev: corpus dev never trains anything "
                           "(give a train folder, e.g. corpus/brands/train)\n")
