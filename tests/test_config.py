"""Analyzer settings: configs/default.yaml is the defaults, and bad files fail with one clear line."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from brandscan.engine.config import AnalyzerConfig, load_config
from brandscan.engine.errors import ConfigError

DEFAULTS = Path(__file__).resolve().parents[1] / "configs" / "default.yaml"


def test_the_shipped_file_holds_exactly_the_defaults() -> None:
    assert load_config(DEFAULTS) == AnalyzerConfig()
    keys = [line.split(":")[0] for line in DEFAULTS.read_text().splitlines() if line and not line.startswith("#")]
    assert keys == [f.name for f in dataclasses.fields(AnalyzerConfig)]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("windw: 128\n", "unknown setting 'windw': expected one of: model, dtype, threads, passage_tokens, window"),
        ("dtype: float16\n", "dtype 'float16': expected one of: auto, float32, bfloat16, int8"),
        ("attribution: gradients\n", "expected one of: attention, rollout"),
        ("passage_tokens: 4000\n", "passage_tokens 4000: expected 8..510"),
        ("link_bias: lots\n", "link_bias 'lots': expected a number from -10 to 10"),
        ("link_bias: 50\n", "link_bias 50: expected a number from -10 to 10"),
        ("window: [1, 2\n", ":2:1: YAML syntax error"),
        ("- a list\n", "expected a mapping of settings"),
    ],
)
def test_bad_settings_name_the_file_and_the_problem(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(str(path)) and message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_options_override_the_file_and_the_digest_ignores_threads() -> None:
    base = AnalyzerConfig(window=128)
    assert base.replace(window=None, dtype="float32") == AnalyzerConfig(window=128, dtype="float32")
    assert base.replace(threads=1).digest() == base.digest()
    assert base.replace(window=64).digest() != base.digest()
