"""Hostile or broken settings (catalogue, --config, options, model heads) are user errors: exit 2 and
one `file:line:col: message` line, never exit 70 with a traceback."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from brandscan.engine.model.loader import default_model_dir

ROOT = Path(__file__).resolve().parents[1]
CATALOG = ROOT / "configs" / "brands.example.yaml"
BRANDSCAN = Path(sys.executable).with_name("brandscan")

# (YAML text, the message the error must hold, after `FILE:`)
HOSTILE = [
    ("brands:\n  - id: !custom x\n    name: X\n", "2:9: YAML tag '!custom' is not allowed"),
    ("brands: !!python/name:os.system\n", "1:9: YAML tag 'tag:yaml.org,2002:python/name:os.system' is not allowed"),
    ("brands:\n  - id: a\x00\n", "2:10: character U+0000 is not allowed in YAML"),
    ("brands: " + "[" * 5000 + "]" * 5000 + "\n", "1:72: nested more than 64 levels deep"),
    ("brands:\n" + "".join(" " * i + "a:\n" for i in range(1, 5000)), "64:64: nested more than 64 levels deep"),
]


def _analyze(tmp_path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    # The installed command, so that the exit code is the one main() gives (2, never 70).
    document = tmp_path / "doc.txt"
    document.write_text("Norvik boots.\n", encoding="utf-8")
    return subprocess.run([str(BRANDSCAN), "analyze", str(document), "--no-cache", *options],
                          capture_output=True, text=True)


def _one_line_error(done: subprocess.CompletedProcess[str], path: Path, message: str) -> None:
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"brandscan: error: {path}:{message}"), done.stderr
    assert done.stderr.count("\n") == 1 and done.stdout == ""


@pytest.mark.parametrize(("text", "message"), HOSTILE, ids=["tag", "python-tag", "nul", "deep-flow", "deep-block"])
def test_a_hostile_catalogue_exits_2_with_its_position(tmp_path: Path, text: str, message: str) -> None:
    catalogue = tmp_path / "brands.yaml"
    catalogue.write_text(text, encoding="utf-8")
    _one_line_error(_analyze(tmp_path, "-c", str(catalogue)), catalogue, message)


@pytest.mark.parametrize(("text", "message"), HOSTILE, ids=["tag", "python-tag", "nul", "deep-flow", "deep-block"])
def test_a_hostile_config_exits_2_with_its_position(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "settings.yaml"
    config.write_text(text.replace("brands:", "window:"), encoding="utf-8")
    _one_line_error(_analyze(tmp_path, "-c", str(CATALOG), "--config", str(config)), config, message)


def test_config_values_are_checked_where_they_are_written(tmp_path: Path) -> None:
    config = tmp_path / "settings.yaml"
    config.write_text("dtype: float32\nwindow: 255\n", encoding="utf-8")
    _one_line_error(_analyze(tmp_path, "-c", str(CATALOG), "--config", str(config)), config, "2:9: window 255: expected an even number of tokens, at least 2")


def test_an_odd_window_option_is_refused_up_front_with_the_rule(tmp_path: Path) -> None:
    done = _analyze(tmp_path, "-c", str(CATALOG), "--window", "255")
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("brandscan: error: window 255: expected an even number of tokens, at least 2")


def test_dtype_has_one_vocabulary_and_float32_runs(tmp_path: Path) -> None:
    done = _analyze(tmp_path, "-c", str(CATALOG), "--dtype", "fp16")
    assert done.returncode == 2
    assert done.stderr == "brandscan: error: dtype 'fp16': expected one of: auto, float32, bfloat16, int8\n"
    done = _analyze(tmp_path, "-c", str(CATALOG), "--dtype", "float32", "--format", "jsonl")
    assert done.returncode == 0, done.stderr
    assert '"dtype":"float32"' in done.stdout


@pytest.mark.parametrize("name", ["linking/head.safetensors", "sentiment/opinion_head.safetensors", "linking/adapter.safetensors"])
def test_a_model_head_that_is_not_safetensors_exits_2_with_its_path(tmp_path: Path, name: str) -> None:
    model = tmp_path / "model"
    shutil.copytree(default_model_dir(), model)
    (model / "heads" / name).write_bytes(b"not safetensors at all\n")
    done = _analyze(tmp_path, "-c", str(CATALOG), "--model", str(model))
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"brandscan: error: {model / 'heads' / name}: not a readable safetensors file")
