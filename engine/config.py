"""The analyzer's configuration: one dataclass, commented defaults, loaded from YAML.

configs/default.yaml holds the same defaults as a file users can copy; `--config FILE` overrides
them, and command-line options override both. Unknown keys are rejected with the known ones listed.
"""
from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import orjson
from yaml.nodes import MappingNode, ScalarNode

from brandscan.engine.catalog.loader import compose
from brandscan.engine.errors import ConfigError

# The one vocabulary for the encoder dtype: config files, `--dtype` and the model loader use it.
Dtype = Literal["auto", "float32", "bfloat16", "int8"]
DTYPES: tuple[Dtype, ...] = get_args(Dtype)
ATTRIBUTIONS = ("attention", "rollout")
LINK_BIAS_LIMIT = 10.0  # past this every candidate (or none) is linked: a typo, not a setting
# The encoder's sliding window: a query sees w/2 keys on each side, so w is even.
WINDOW_RULE = "an even number of tokens, at least 2 (a token sees window/2 keys on each side)"


def check_dtype(value: str, name: str = "dtype") -> Dtype:
    """`value` if it is one of DTYPES, else a ConfigError that lists them."""
    if value not in DTYPES:
        raise ConfigError(f"{name} {value!r}: expected one of: {', '.join(DTYPES)}")
    return value  # type: ignore[return-value]  # checked against the Literal's values just above


def check_window(value: int | None, name: str = "window") -> int | None:
    """`value` (None: the model's own window) if it is a valid sliding window, else a ConfigError."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 2 or value % 2):
        raise ConfigError(f"{name} {value!r}: expected {WINDOW_RULE}")
    return value


@dataclass(frozen=True)
class AnalyzerConfig:
    model: str | None = None  # model name or directory; None = the embedded default model
    dtype: Dtype = "auto"  # encoder dtype: auto (bfloat16 where this machine runs it fast, else float32), float32, bfloat16, int8 (CPU)
    threads: int | None = None  # torch threads; None = all cores
    passage_tokens: int = 510  # word pieces per passage; +2 for [CLS]/[SEP] fills 512 positions
    window: int | None = None  # sliding window w (keys within +-w/2); None = the model's (256)
    global_budget: int | None = None  # most global tokens per document; None = the model's (512)
    attribution: str = "attention"  # attention (last layers) or rollout (through the sparse pattern)
    evidence_spans: int = 5  # top evidence spans kept per linked mention
    # added to every brand's score against "no brand" (logits): > 0 links more candidates (recall),
    # < 0 fewer (precision); 0 keeps the head's operating point (`train operating-point`: every implicit
    # figure above the nearest-brand rule on held-out train documents; the README gives the best link F1's bias)
    link_bias: float = 0.0
    author: str | None = None  # brand id that wrote the documents: "we/our/us" link to it
    include_text: bool = False  # put the analyzed text in each report

    def __post_init__(self) -> None:
        check_dtype(self.dtype)
        check_window(self.window)
        if self.attribution not in ATTRIBUTIONS:
            raise ConfigError(f"attribution {self.attribution!r}: expected one of: {', '.join(ATTRIBUTIONS)}")
        if isinstance(self.link_bias, bool) or not isinstance(self.link_bias, (int, float)) \
                or not -LINK_BIAS_LIMIT <= self.link_bias <= LINK_BIAS_LIMIT:
            raise ConfigError(f"link_bias {self.link_bias!r}: expected a number from -{LINK_BIAS_LIMIT:g} to {LINK_BIAS_LIMIT:g}")
        if not 8 <= self.passage_tokens <= 510:
            raise ConfigError(f"passage_tokens {self.passage_tokens}: expected 8..510")
        for name, least in (("global_budget", 0), ("threads", 1)):
            value = getattr(self, name)
            if value is not None and value < least:
                raise ConfigError(f"{name} {value}: expected {least} or more")

    def replace(self, **changes: Any) -> AnalyzerConfig:
        """A copy with the given fields changed; None values leave a field as it is."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def digest(self) -> str:
        """sha256 of the fields that change analysis output (threads and text inclusion do not)."""
        fields = dataclasses.asdict(self)
        fields.pop("threads")
        return hashlib.sha256(orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)).hexdigest()


def load_config(path: str | Path | None) -> AnalyzerConfig:
    """Defaults, overridden by the YAML file at `path` when one is given.

    The file is read like a catalogue (catalog_yaml.compose): no tags, bounded nesting, and every
    problem named as `file:line:column`.
    """
    if path is None:
        return AnalyzerConfig()
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"{source}: cannot read config: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"{source}: not UTF-8 text (byte {error.start})") from None
    doc = compose(text, source, ConfigError)
    if doc.root is None:
        return AnalyzerConfig()
    if not isinstance(doc.root, MappingNode):
        raise ConfigError(f"{doc.where(doc.root)}: expected a mapping of settings at the top level")
    known = [f.name for f in dataclasses.fields(AnalyzerConfig)]
    values: dict[str, Any] = {}
    for key_node, value_node in doc.root.value:
        key = doc.scalar(key_node) if isinstance(key_node, ScalarNode) else None
        if key not in known:
            raise ConfigError(f"{doc.where(key_node)}: unknown setting {key!r}: expected one of: {', '.join(known)}")
        if not isinstance(value_node, ScalarNode):
            raise ConfigError(f"{doc.where(value_node)}: {key}: expected a single value")
        values[str(key)] = doc.scalar(value_node)
        try:
            AnalyzerConfig(**{str(key): values[str(key)]})
        except ConfigError as error:
            raise ConfigError(f"{doc.where(value_node)}: {error}") from None
        except TypeError as error:  # a comparison of a string with a number, say
            raise ConfigError(f"{doc.where(value_node)}: {key}: {error}") from None
    return AnalyzerConfig(**values)
