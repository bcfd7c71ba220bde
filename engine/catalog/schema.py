"""The brand catalogue: what to look for (brands, their aliases, products and handles) and which
aspects to score. Read from YAML, validated with one `file:line:column: message` line per problem.

The schema is documented in docs/catalog.md. Validation reports every problem it finds, in file
order, in one CatalogError (one line each), so a user fixes a catalogue in one pass, not one
error per run.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

__all__ = [
    "SHORT_ALIAS_CHARS",
    "Alias",
    "Aspect",
    "Brand",
    "Catalog",
    "Product",
    "default_case_sensitive",
]

# Names this short ("BA", "KLM", "Gap", "Dove") collide with ordinary words and abbreviations far
# more often than long ones, so by default they only match as written.
SHORT_ALIAS_CHARS = 4

Number = Literal["singular", "plural"]
NUMBERS: tuple[str, ...] = ("singular", "plural")

TOP_KEYS = ("brands", "aspects")
BRAND_KEYS = ("id", "name", "aliases", "products", "handles", "category", "nouns", "number",
              "ambiguous", "context")
ALIAS_KEYS = ("text", "case_sensitive")
PRODUCT_KEYS = ("name", "noun", "aliases")
ASPECT_KEYS = ("id", "name", "terms")



def default_case_sensitive(text: str, ambiguous: bool) -> bool:
    """The rule for names without an explicit `case_sensitive`: short or ambiguous names match only
    as written ("Apple" the brand, not "apple" the fruit); other names match in any case."""
    return ambiguous or len("".join(text.split())) <= SHORT_ALIAS_CHARS


@dataclass(frozen=True)
class Alias:
    text: str
    case_sensitive: bool  # resolved: the alias's own setting, else default_case_sensitive()


@dataclass(frozen=True)
class Product:
    name: str
    noun: str | None  # "phone": lets linking read "the phone" as this product
    aliases: tuple[Alias, ...]


@dataclass(frozen=True)
class Brand:
    id: str
    name: str  # matched too, as kind "explicit"; aliases as kind "alias"
    aliases: tuple[Alias, ...]
    products: tuple[Product, ...]
    handles: tuple[str, ...]  # "@acme", "#acmegear"
    category: str | None  # "airline", "retailer"
    nouns: tuple[str, ...]  # nominals that may refer to it ("the carrier"); default (category,)
    number: Number  # pronoun agreement: "it" or "they"
    ambiguous: bool  # the name has common non-brand senses ("Apple", "Amazon")
    context: tuple[str, ...]  # words that signal the brand sense


@dataclass(frozen=True)
class Aspect:
    id: str
    name: str
    terms: tuple[str, ...]


@dataclass(frozen=True)
class Catalog:
    source: str
    brands: tuple[Brand, ...]
    aspects: tuple[Aspect, ...]
    sha256: str  # of the resolved content: formatting-only edits keep it, so caches keep working
    _by_id: Mapping[str, Brand] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", MappingProxyType({b.id: b for b in self.brands}))

    def brand(self, brand_id: str) -> Brand:
        try:
            return self._by_id[brand_id]
        except KeyError:
            raise KeyError(f"no brand {brand_id!r} in {self.source}") from None
