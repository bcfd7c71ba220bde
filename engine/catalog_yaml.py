"""Reading a catalogue's YAML as a node tree that keeps line and column for every value.

`yaml.safe_load` throws the positions away, and a catalogue error that cannot point at its line
is not worth much. So the text is composed (parsed, not constructed) by a SafeLoader subclass, and
the catalogue reader walks the nodes, asking the same loader to construct scalars: the values are
exactly those `yaml.safe_load` would give, and each comes with its node's mark.
"""
from __future__ import annotations

from dataclasses import dataclass

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .errors import CatalogError

__all__ = ["Problems", "YamlDocument", "compose", "type_name"]


class _MarkedLoader(yaml.SafeLoader):
    """A SafeLoader of its own: composes nodes, and constructs only what safe_load constructs."""


@dataclass(frozen=True)
class YamlDocument:
    """A composed YAML document and the loader that can construct its scalars."""

    source: str
    root: Node | None  # None for an empty document
    loader: _MarkedLoader

    def where(self, node: Node) -> str:
        """`file:line:column` (both 1-based) of a node's first character."""
        mark = node.start_mark
        return f"{self.source}:{mark.line + 1}:{mark.column + 1}"

    def scalar(self, node: ScalarNode) -> object:
        """The value `yaml.safe_load` gives this scalar (str, int, float, bool, None, date...)."""
        return self.loader.construct_object(node, deep=True)


class Problems:
    """Collects one line per catalogue problem, so a user can fix them all in one go."""

    def __init__(self) -> None:
        self._lines: list[tuple[int, int, str]] = []

    def add(self, doc: YamlDocument, node: Node, message: str) -> None:
        mark = node.start_mark
        self._lines.append((mark.line, mark.column, f"{doc.where(node)}: {message}"))

    def __bool__(self) -> bool:
        return bool(self._lines)

    def raise_if_any(self) -> None:
        if self._lines:
            # In file order, so the first line is the first problem a reader meets.
            ordered = sorted(self._lines, key=lambda item: (item[0], item[1]))
            raise CatalogError("\n".join(line for _, _, line in ordered))


def compose(text: str, source: str) -> YamlDocument:
    """Parse `text` into nodes; a syntax error becomes a CatalogError at the parser's position."""
    loader = _MarkedLoader(text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else f"{source}:1:1"
        problem = error.problem or error.context or "invalid YAML"
        raise CatalogError(f"{where}: YAML syntax error: {problem}") from None
    except yaml.YAMLError as error:  # reader errors (e.g. control characters) carry a position too
        position = getattr(error, "position", None)
        line, column = _line_column(text, position) if position is not None else (1, 1)
        raise CatalogError(f"{source}:{line}:{column}: YAML error: {error}") from None
    if isinstance(root, MappingNode):
        # Merge keys (`<<: *defaults`) are flattened the way safe_load flattens them.
        _flatten_merges(loader, root, set())
    return YamlDocument(source=source, root=root, loader=loader)


def _flatten_merges(loader: _MarkedLoader, node: Node, seen: set[int]) -> None:
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, MappingNode):
        loader.flatten_mapping(node)
        for key, value in node.value:
            _flatten_merges(loader, key, seen)
            _flatten_merges(loader, value, seen)
    elif isinstance(node, SequenceNode):
        for item in node.value:
            _flatten_merges(loader, item, seen)


def _line_column(text: str, position: int) -> tuple[int, int]:
    before = text[:position]
    line = before.count("\n") + 1
    return line, position - (before.rfind("\n") + 1) + 1


def type_name(doc: YamlDocument, node: Node) -> str:
    """How a user would name what they wrote: 'a list', 'a mapping', 'boolean `yes`'..."""
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    assert isinstance(node, ScalarNode)
    value = doc.scalar(node)
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"boolean `{node.value}`"
    if isinstance(value, (int, float)):
        return f"number `{node.value}`"
    if isinstance(value, str):
        return f"string `{value}`"
    return f"{type(value).__name__} `{node.value}`"
