"""Reading and validating a catalogue: one `file:line:column: message` line per problem, all of them
in one CatalogError (docs/catalog.md documents the schema; schema.py holds the dataclasses)."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from importlib import resources
from pathlib import Path

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from brandscan.engine.catalog.loader import Problems, YamlDocument, compose, type_name
from brandscan.engine.catalog.schema import (
    ALIAS_KEYS,
    ASPECT_KEYS,
    BRAND_KEYS,
    NUMBERS,
    PRODUCT_KEYS,
    TOP_KEYS,
    Alias,
    Aspect,
    Brand,
    Catalog,
    Product,
    default_case_sensitive,
)
from brandscan.engine.errors import CatalogError
from brandscan.engine.text.lexicon import fold_key

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
_HANDLE = re.compile(r"[@#]\w+\Z")


def load_catalog(path: str | Path) -> Catalog:
    """Read and validate a catalogue file; every problem is a CatalogError naming file:line:column."""
    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as error:
        raise CatalogError(f"{source}: cannot read catalogue: {error.strerror or error}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        before = raw[: error.start]
        line = before.count(b"\n") + 1
        column = error.start - (before.rfind(b"\n") + 1) + 1
        raise CatalogError(f"{source}:{line}:{column}: catalogue is not valid UTF-8") from None
    return parse_catalog(text, source)


def parse_catalog(text: str, source: str) -> Catalog:
    """Validate catalogue YAML `text`; `source` names it in error messages."""
    return _parse(text, source, builtin_aspects=None)


def default_aspects() -> tuple[Aspect, ...]:
    """The aspects used when a catalogue has no `aspects:` key (configs/aspects.yaml)."""
    text = resources.files("brandscan.configs").joinpath("aspects.yaml").read_text("utf-8")
    return _parse(text, "brandscan/configs/aspects.yaml", builtin_aspects=()).aspects


def _parse(text: str, source: str, builtin_aspects: tuple[Aspect, ...] | None) -> Catalog:
    doc = compose(text, source)
    problems = Problems()
    root = doc.root
    if root is None or (isinstance(root, ScalarNode) and doc.scalar(root) is None):
        raise CatalogError(f"{source}:1:1: empty catalogue; expected a mapping with keys: "
                           f"{', '.join(TOP_KEYS)}")
    # The aspects file itself has no brands; a user catalogue must have some.
    brands_required = builtin_aspects is None
    fields = _mapping(doc, root, TOP_KEYS, ("brands",) if brands_required else (), "catalogue",
                      problems)
    brands: list[Brand] = []
    if "brands" in fields:
        brands = _brands(doc, fields["brands"][1], problems)
    if "aspects" in fields:
        aspects = _aspects(doc, fields["aspects"][1], problems)
    else:
        aspects = list(builtin_aspects) if builtin_aspects is not None else list(default_aspects())
    problems.raise_if_any()
    content = {"brands": [dataclasses.asdict(b) for b in brands],
               "aspects": [dataclasses.asdict(a) for a in aspects]}
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return Catalog(source=source, brands=tuple(brands), aspects=tuple(aspects),
                   sha256=hashlib.sha256(canonical.encode("utf-8")).hexdigest())


# --- brands ---------------------------------------------------------------------------------


def _brands(doc: YamlDocument, node: Node, problems: Problems) -> list[Brand]:
    items = _sequence(doc, node, "brands", problems)
    if items is not None and not items:
        problems.add(doc, node, "`brands` is empty; list at least one brand")
    brands: list[Brand] = []
    first_seen: dict[str, Node] = {}
    owner_of_alias: dict[str, tuple[str, str, Node]] = {}  # folded alias -> (brand id, text, node)
    for item in items or ():
        built = _brand(doc, item, problems)
        if built is None:
            continue
        brand, id_node, surfaces = built
        if brand.id in first_seen:
            problems.add(doc, id_node, f"duplicate brand id `{brand.id}` (first at line "
                                       f"{first_seen[brand.id].start_mark.line + 1})")
            continue
        first_seen[brand.id] = id_node
        for text, text_node in surfaces:
            key = fold_key(text)
            owner = owner_of_alias.get(key)
            if owner is None:
                owner_of_alias[key] = (brand.id, text, text_node)
            elif owner[0] != brand.id:
                problems.add(doc, text_node,
                             f"`{text}` is also a name of brand `{owner[0]}` (`{owner[1]}` at line "
                             f"{owner[2].start_mark.line + 1}); a name must belong to one brand")
        brands.append(brand)
    return brands


def _brand(doc: YamlDocument, node: Node, problems: Problems
           ) -> tuple[Brand, Node, list[tuple[str, Node]]] | None:
    fields = _mapping(doc, node, BRAND_KEYS, ("id", "name"), "brand", problems)
    if "id" not in fields or "name" not in fields:
        return None
    id_node = fields["id"][1]
    brand_id = _string(doc, id_node, "id", problems)
    if brand_id is not None and not _ID.match(brand_id):
        problems.add(doc, id_node, f"brand id `{brand_id}` must be letters, digits, `_`, `-` or `.`"
                                   ", starting with a letter or digit")
        brand_id = None
    name = _string(doc, fields["name"][1], "name", problems)
    ambiguous = _bool(doc, fields, "ambiguous", problems) or False
    surfaces: list[tuple[str, Node]] = []
    if name is not None:
        surfaces.append((name, fields["name"][1]))
    aliases = _aliases(doc, fields, ambiguous, surfaces, problems)
    products = tuple(
        p for p in (_product(doc, n, surfaces, problems)
                    for n in _sequence(doc, fields["products"][1], "products", problems) or ()
                    ) if p is not None
    ) if "products" in fields else ()
    handles: list[str] = []
    for handle_node in _list_nodes(doc, fields, "handles", problems):
        handle = _string(doc, handle_node, "handle", problems)
        if handle is None:
            continue
        if not _HANDLE.match(handle):
            problems.add(doc, handle_node, f"handle `{handle}` must be @ or # followed by letters, "
                                           "digits or `_` (e.g. @acme, #acmegear)")
            continue
        handles.append(handle)
        surfaces.append((handle, handle_node))
    category = _optional_string(doc, fields, "category", problems)
    nouns = _strings(doc, fields, "nouns", problems)
    number = "singular"
    if "number" in fields:
        value = _string(doc, fields["number"][1], "number", problems)
        if value is not None and value not in NUMBERS:
            problems.add(doc, fields["number"][1],
                         f"`number` is `{value}`; expected one of: {', '.join(NUMBERS)}")
        elif value is not None:
            number = value
    context = _strings(doc, fields, "context", problems)
    if brand_id is None or name is None:
        return None
    brand = Brand(
        id=brand_id, name=name, aliases=aliases, products=products, handles=tuple(handles),
        category=category,
        nouns=nouns if "nouns" in fields else ((category,) if category else ()),
        number="plural" if number == "plural" else "singular",
        ambiguous=ambiguous, context=context,
    )
    return brand, id_node, surfaces


def _aliases(doc: YamlDocument, fields: dict[str, tuple[Node, Node]], ambiguous: bool,
             surfaces: list[tuple[str, Node]], problems: Problems) -> tuple[Alias, ...]:
    aliases: list[Alias] = []
    for alias_node in _list_nodes(doc, fields, "aliases", problems):
        alias = _alias(doc, alias_node, ambiguous, problems)
        if alias is not None:
            aliases.append(alias)
            surfaces.append((alias.text, alias_node))
    return tuple(aliases)


def _alias(doc: YamlDocument, node: Node, ambiguous: bool, problems: Problems) -> Alias | None:
    """An alias is a string, or {text: ..., case_sensitive: true|false}."""
    if isinstance(node, MappingNode):
        fields = _mapping(doc, node, ALIAS_KEYS, ("text",), "alias", problems)
        if "text" not in fields:
            return None
        text = _name_text(doc, fields["text"][1], "alias", problems)
        explicit = _bool(doc, fields, "case_sensitive", problems)
        if text is None:
            return None
        sensitive = default_case_sensitive(text, ambiguous) if explicit is None else explicit
        return Alias(text=text, case_sensitive=sensitive)
    text = _name_text(doc, node, "alias", problems)
    if text is None:
        return None
    return Alias(text=text, case_sensitive=default_case_sensitive(text, ambiguous))


def _product(doc: YamlDocument, node: Node, surfaces: list[tuple[str, Node]],
             problems: Problems) -> Product | None:
    """A product is a name, or {name: ..., noun: ..., aliases: [...]}; products are not
    `ambiguous` even when their brand is ("iPhone" has no fruit sense)."""
    if not isinstance(node, MappingNode):
        name = _name_text(doc, node, "product", problems)
        if name is None:
            return None
        surfaces.append((name, node))
        return Product(name=name, noun=None, aliases=())
    fields = _mapping(doc, node, PRODUCT_KEYS, ("name",), "product", problems)
    if "name" not in fields:
        return None
    name = _name_text(doc, fields["name"][1], "product name", problems)
    noun = _optional_string(doc, fields, "noun", problems)
    if name is not None:
        surfaces.append((name, fields["name"][1]))
    aliases = _aliases(doc, fields, False, surfaces, problems)
    if name is None:
        return None
    return Product(name=name, noun=noun, aliases=aliases)


# --- aspects --------------------------------------------------------------------------------


def _aspects(doc: YamlDocument, node: Node, problems: Problems) -> list[Aspect]:
    aspects: list[Aspect] = []
    seen_ids: dict[str, Node] = {}
    term_owner: dict[str, tuple[str, Node]] = {}
    for item in _sequence(doc, node, "aspects", problems) or ():
        fields = _mapping(doc, item, ASPECT_KEYS, ("id", "terms"), "aspect", problems)
        if "id" not in fields or "terms" not in fields:
            continue
        id_node = fields["id"][1]
        aspect_id = _string(doc, id_node, "id", problems)
        if aspect_id is not None and not _ID.match(aspect_id):
            problems.add(doc, id_node, f"aspect id `{aspect_id}` must be letters, digits, `_`, `-` "
                                       "or `.`, starting with a letter or digit")
            aspect_id = None
        if aspect_id is not None and aspect_id in seen_ids:
            problems.add(doc, id_node, f"duplicate aspect id `{aspect_id}` (first at line "
                                       f"{seen_ids[aspect_id].start_mark.line + 1})")
            aspect_id = None
        name = _optional_string(doc, fields, "name", problems)
        term_nodes = _list_nodes(doc, fields, "terms", problems)
        if not term_nodes and isinstance(fields["terms"][1], SequenceNode):
            problems.add(doc, fields["terms"][1], "`terms` is empty; list at least one term")
        terms: list[str] = []
        for term_node in term_nodes:
            term = _name_text(doc, term_node, "term", problems)
            if term is None:
                continue
            owner = term_owner.get(fold_key(term))
            if owner is not None and owner[0] != aspect_id:
                problems.add(doc, term_node, f"term `{term}` is also a term of aspect `{owner[0]}` "
                                             f"(line {owner[1].start_mark.line + 1})")
                continue
            term_owner[fold_key(term)] = (aspect_id or "?", term_node)
            terms.append(term)
        if aspect_id is None:
            continue
        seen_ids[aspect_id] = id_node
        aspects.append(Aspect(id=aspect_id, name=name or aspect_id.replace("_", " "),
                              terms=tuple(terms)))
    return aspects


# --- node helpers: each adds its problem and returns None (or empty) on a wrong shape ---------


def _mapping(doc: YamlDocument, node: Node, known: tuple[str, ...], required: tuple[str, ...],
             what: str, problems: Problems) -> dict[str, tuple[Node, Node]]:
    """The mapping's fields by key (key node, value node); unknown, duplicate, missing reported."""
    if not isinstance(node, MappingNode):
        problems.add(doc, node, f"expected a {what} (a mapping with keys: {', '.join(known)}), "
                                f"got {type_name(doc, node)}")
        return {}
    fields: dict[str, tuple[Node, Node]] = {}
    for key_node, value_node in node.value:
        key = doc.scalar(key_node) if isinstance(key_node, ScalarNode) else None
        if not isinstance(key, str):
            problems.add(doc, key_node, f"{what} keys must be strings; expected one of: "
                                        f"{', '.join(known)}")
        elif key not in known:
            problems.add(doc, key_node, f"unknown {what} key `{key}`; expected one of: "
                                        f"{', '.join(known)}")
        elif key in fields:
            problems.add(doc, key_node, f"duplicate key `{key}` (first at line "
                                        f"{fields[key][0].start_mark.line + 1})")
        else:
            fields[key] = (key_node, value_node)
    for key in required:
        if key not in fields:
            problems.add(doc, node, f"{what} is missing required key `{key}`")
    return fields


def _sequence(doc: YamlDocument, node: Node, name: str, problems: Problems) -> list[Node] | None:
    if not isinstance(node, SequenceNode):
        problems.add(doc, node, f"`{name}` must be a list, got {type_name(doc, node)}")
        return None
    return list(node.value)


def _list_nodes(doc: YamlDocument, fields: dict[str, tuple[Node, Node]], key: str,
                problems: Problems) -> list[Node]:
    if key not in fields:
        return []
    return _sequence(doc, fields[key][1], key, problems) or []


def _string(doc: YamlDocument, node: Node, name: str, problems: Problems) -> str | None:
    """A string field. Numbers are taken as written (`1800`, `3.0`); booleans and nulls are almost
    always a YAML surprise (`no`, `on`), so they are reported with the quoting fix."""
    if isinstance(node, ScalarNode):
        value = doc.scalar(node)
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(node.value)
        if isinstance(value, bool) or value is None:
            problems.add(doc, node, f"`{name}` must be a string, got {type_name(doc, node)}; "
                                    f"quote it: \"{node.value}\"")
            return None
    problems.add(doc, node, f"`{name}` must be a string, got {type_name(doc, node)}")
    return None


def _name_text(doc: YamlDocument, node: Node, name: str, problems: Problems) -> str | None:
    """A string that will be matched in documents: it must have some visible text."""
    text = _string(doc, node, name, problems)
    if text is not None and not text.strip():
        problems.add(doc, node, f"empty {name}: a name to match needs at least one visible character")
        return None
    return text.strip() if text is not None else None


def _optional_string(doc: YamlDocument, fields: dict[str, tuple[Node, Node]], key: str,
                     problems: Problems) -> str | None:
    if key not in fields:
        return None
    node = fields[key][1]
    if isinstance(node, ScalarNode) and doc.scalar(node) is None:
        return None
    text = _string(doc, node, key, problems)
    return text.strip() or None if text is not None else None


def _strings(doc: YamlDocument, fields: dict[str, tuple[Node, Node]], key: str,
             problems: Problems) -> tuple[str, ...]:
    values = (_name_text(doc, n, key.rstrip("s"), problems)
              for n in _list_nodes(doc, fields, key, problems))
    return tuple(v for v in values if v is not None)


def _bool(doc: YamlDocument, fields: dict[str, tuple[Node, Node]], key: str,
          problems: Problems) -> bool | None:
    if key not in fields:
        return None
    node = fields[key][1]
    value = doc.scalar(node) if isinstance(node, ScalarNode) else None
    if not isinstance(value, bool):
        problems.add(doc, node, f"`{key}` must be true or false, got {type_name(doc, node)}")
        return None
    return value
