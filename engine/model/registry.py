"""Where models live and what each one is, without loading weights (no torch import here).

Models are directories. The embedded default lives next to this file; more can be installed in the
directories listed in $BRANDSCAN_MODELS (os.pathsep-separated), one model per subdirectory.
A model directory holds model.safetensors, config.json (format brandscan.model/1), tokenizer.json,
LICENSE, NOTICE, MODEL_CARD.md and optionally heads/ (small trained heads and adapters). A plain
Hugging Face BERT/RoBERTa/Longformer checkpoint directory is also accepted by path.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from brandscan.engine.errors import ModelError

if TYPE_CHECKING:  # pragma: no cover
    from mmap import mmap

MODEL_FORMAT = "brandscan.model/1"
DEFAULT_MODEL = "all-minilm-l6-v2"
MODELS_ENV = "BRANDSCAN_MODELS"
HASHED_FILES = ("config.json", "model.safetensors", "tokenizer.json")  # what the model sha256 covers, in order


@dataclass(frozen=True)
class ModelEntry:
    name: str
    directory: Path
    kind: str  # "brandscan" (converted) or "huggingface" (checkpoint read by path)
    size_bytes: int  # of the hashed files
    storage_dtype: str
    license: str
    heads: tuple[str, ...]  # names of the entries under heads/


def default_model_dir() -> Path:
    return Path(__file__).resolve().parent / DEFAULT_MODEL


def search_dirs() -> list[Path]:
    """The package's models directory, then $BRANDSCAN_MODELS entries."""
    dirs = [Path(__file__).resolve().parent]
    extra = os.environ.get(MODELS_ENV, "")
    dirs += [Path(p).expanduser() for p in extra.split(os.pathsep) if p]
    return dirs


def read_config(directory: Path) -> dict:
    path = directory / "config.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{path}: missing (not a model directory)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(data, dict):
        raise ModelError(f"{path}: expected a JSON object")
    return data


def model_kind(config: dict) -> str:
    return "brandscan" if config.get("format") == MODEL_FORMAT else "huggingface"


def heads_of(directory: Path) -> tuple[str, ...]:
    heads = directory / "heads"
    return tuple(sorted(p.name for p in heads.iterdir())) if heads.is_dir() else ()


def describe(directory: Path) -> ModelEntry:
    config = read_config(directory)
    kind = model_kind(config)
    license_file = directory / "LICENSE"
    source = config.get("source", {}) if kind == "brandscan" else {}
    return ModelEntry(
        name=str(config.get("name", directory.name)) if kind == "brandscan" else directory.name,
        directory=directory,
        kind=kind,
        size_bytes=sum((directory / f).stat().st_size for f in HASHED_FILES if (directory / f).exists()),
        storage_dtype=str(config.get("storage_dtype", config.get("torch_dtype", "float32"))),
        license=str(source.get("license", "see LICENSE" if license_file.exists() else "unknown")),
        heads=heads_of(directory),
    )


def list_models() -> list[ModelEntry]:
    """Every brandscan model directory found in the search path (first of a name wins)."""
    seen: dict[str, ModelEntry] = {}
    for root in search_dirs():
        if not root.is_dir():
            continue
        for child in sorted(root.iterdir()):
            if not (child / "config.json").is_file():
                continue
            try:
                entry = describe(child)
            except ModelError:
                continue  # a broken directory is reported by `models info`, not by the listing
            if entry.kind == "brandscan" and entry.name not in seen:
                seen[entry.name] = entry
    return list(seen.values())


def resolve(name_or_dir: str | None) -> Path:
    """A model directory from a name (see list_models) or a path; None means the default model."""
    if name_or_dir is None:
        return default_model_dir()
    path = Path(name_or_dir).expanduser()
    if path.is_dir():
        return path.resolve()
    for entry in list_models():
        if entry.name == name_or_dir:
            return entry.directory
    names = ", ".join(e.name for e in list_models()) or "none"
    raise ModelError(f"{name_or_dir}: no such model name or directory; installed models: {names}")


def sha256_of(directory: Path, data: dict[str, bytes | mmap] | None = None) -> str:
    """SHA-256 over config.json, model.safetensors and tokenizer.json bytes, concatenated in that order.

    `data` supplies files already read or mapped (the loader maps the weights once, for hashing and
    parsing).
    """
    digest = hashlib.sha256()
    for name in HASHED_FILES:
        if data is not None and name in data:
            digest.update(data[name])
        elif (directory / name).is_file():
            with open(directory / name, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()
