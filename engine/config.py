"""The analyzer's configuration: one dataclass, commented defaults, loaded from YAML.

configs/default.yaml holds the same defaults as a file users can copy; `--config FILE` overrides
them, and command-line options override both. Unknown keys are rejected with the known ones listed.
"""
from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml

from .errors import ConfigError

DTYPES = ("auto", "float32", "bfloat16")
ATTRIBUTIONS = ("attention", "rollout")


@dataclass(frozen=True)
class AnalyzerConfig:
    model: str | None = None  # model name or directory; None = the embedded default model
    dtype: str = "auto"  # encoder dtype: auto (the model's measured default), float32, bfloat16
    threads: int | None = None  # torch threads; None = all cores
    passage_tokens: int = 510  # word pieces per passage; +2 for [CLS]/[SEP] fills 512 positions
    window: int | None = None  # sliding window w (keys within +-w/2); None = the model's (256)
    global_budget: int | None = None  # most global tokens per document; None = the model's (512)
    attribution: str = "attention"  # attention (last layers) or rollout (through the sparse pattern)
    evidence_spans: int = 5  # top evidence spans kept per linked mention
    author: str | None = None  # brand id that wrote the documents: "we/our/us" link to it
    include_text: bool = False  # put the analyzed text in each report
    # Also score aspect terms that no brand mention claims (reported with brand null). Off by
    # default: they feed no brand's figures, and encoding their sentences costs time.
    unbranded_opinions: bool = False

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ConfigError(f"dtype {self.dtype!r}: expected one of: {', '.join(DTYPES)}")
        if self.attribution not in ATTRIBUTIONS:
            raise ConfigError(f"attribution {self.attribution!r}: expected one of: {', '.join(ATTRIBUTIONS)}")
        if not 8 <= self.passage_tokens <= 510:
            raise ConfigError(f"passage_tokens {self.passage_tokens}: expected 8..510")
        for name in ("window", "global_budget", "threads"):
            value = getattr(self, name)
            if value is not None and value < (2 if name == "window" else 0 if name == "global_budget" else 1):
                raise ConfigError(f"{name} {value}: too small")

    def replace(self, **changes: Any) -> "AnalyzerConfig":
        """A copy with the given fields changed; None values leave a field as it is."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def digest(self) -> str:
        """sha256 of the fields that change analysis output (threads and text inclusion do not)."""
        fields = dataclasses.asdict(self)
        fields.pop("threads")
        return hashlib.sha256(orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)).hexdigest()


def load_config(path: str | Path | None) -> AnalyzerConfig:
    """Defaults, overridden by the YAML file at `path` when one is given."""
    if path is None:
        return AnalyzerConfig()
    source = str(path)
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"{source}: cannot read config: {error.strerror}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        raise ConfigError(f"{source}{where}: invalid YAML: {getattr(error, 'problem', error)}") from None
    if data is None:
        return AnalyzerConfig()
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of settings at the top level")
    known = [f.name for f in dataclasses.fields(AnalyzerConfig)]
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(f"{source}: unknown setting {unknown[0]!r}: expected one of: {', '.join(known)}")
    try:
        return AnalyzerConfig(**data)
    except ConfigError as error:
        raise ConfigError(f"{source}: {error}") from None
    except TypeError as error:
        raise ConfigError(f"{source}: {error}") from None
