"""Reading a catalogue's (or a config's) YAML as a node tree that keeps line and column for every value.

`yaml.safe_load` throws the positions away, and a catalogue error that cannot point at its line
is not worth much. So the text is composed (parsed, not constructed) by a SafeLoader subclass, and
the catalogue reader walks the nodes, asking the same loader to construct scalars: the values are
exactly those `yaml.safe_load` would give, and each comes with its node's mark.

Whatever the text holds, reading it fails only with the caller's error class and a `file:line:col`
message: tags are refused (the standard `!!str`, `!!int`... excepted), and so are control
characters and nesting deeper than MAX_DEPTH (which would otherwise exhaust Python's stack).
"""
from __future__ import annotations

from dataclasses import dataclass

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from brandscan.engine.errors import BrandscanError, CatalogError

__all__ = ["MAX_DEPTH", "Problems", "YamlDocument", "compose", "type_name"]

# Far beyond any catalogue (brands > brand > products > product > aliases is five levels), and far
# below the depth at which composing nested collections would exhaust Python's stack.
MAX_DEPTH = 64
# The tags a plain YAML file resolves to, which safe_load constructs; any other is refused.
_STANDARD_TAGS = frozenset(tag for tag in yaml.SafeLoader.yaml_constructors if tag is not None)


class _TooDeep(Exception):
    def __init__(self, mark: yaml.Mark) -> None:
        self.mark = mark


class _MarkedLoader(yaml.SafeLoader):
    """A SafeLoader of its own: composes nodes, and constructs only what safe_load constructs."""

    _depth = 0

    def compose_node(self, parent: Node | None, index: object) -> Node | None:
        # The composer recurses once per level of nesting: stop at MAX_DEPTH, at the opening mark.
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _TooDeep(self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


@dataclass(frozen=True)
class YamlDocument:
    """A composed YAML document and the loader that can construct its scalars."""

    source: str
    root: Node | None  # None for an empty document
    loader: _MarkedLoader
    error: type[BrandscanError] = CatalogError  # what a problem in this file raises

    def where(self, node: Node) -> str:
        """`file:line:column` (both 1-based) of a node's first character."""
        mark = node.start_mark
        return f"{self.source}:{mark.line + 1}:{mark.column + 1}"

    def scalar(self, node: ScalarNode) -> object:
        """The value `yaml.safe_load` gives this scalar (str, int, float, bool, None, date...)."""
        try:
            return self.loader.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, OverflowError) as error:  # `!!int x`, a 30th of February
            problem = getattr(error, "problem", None) or str(error).splitlines()[0]
            raise self.error(f"{self.where(node)}: cannot read this value: {problem}") from None


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


def compose(text: str, source: str, error: type[BrandscanError] = CatalogError) -> YamlDocument:
    """Parse `text` into nodes; any problem becomes `error` (CatalogError by default) at its position."""
    try:
        loader = _MarkedLoader(text)  # the reader checks for control characters here
        root = loader.get_single_node()
    except _TooDeep as deep:
        where = f"{source}:{deep.mark.line + 1}:{deep.mark.column + 1}"
        raise error(f"{where}: nested more than {MAX_DEPTH} levels deep") from None
    except yaml.MarkedYAMLError as problem:
        mark = problem.problem_mark or problem.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else f"{source}:1:1"
        raise error(f"{where}: YAML syntax error: {problem.problem or problem.context or 'invalid YAML'}") from None
    except yaml.reader.ReaderError as problem:  # a control character (NUL...) or undecodable byte
        line, column = _line_column(text, problem.position)
        character = f"U+{problem.character:04X}" if isinstance(problem.character, int) else repr(problem.character)
        raise error(f"{source}:{line}:{column}: character {character} is not allowed in YAML") from None
    except yaml.YAMLError as problem:
        raise error(f"{source}:1:1: YAML error: {str(problem).splitlines()[0]}") from None
    doc = YamlDocument(source=source, root=root, loader=loader, error=error)
    if root is not None:
        _refuse_tags(doc, root)
    if isinstance(root, MappingNode):
        # Merge keys (`<<: *defaults`) are flattened the way safe_load flattens them.
        _flatten_merges(loader, root, set())
    return doc


def _refuse_tags(doc: YamlDocument, root: Node) -> None:
    """A tag (`!custom`, `!!python/name:...`) is never constructed: name the first one."""
    stack, seen = [root], set()
    while stack:  # no recursion: aliases may make the tree a graph
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if node.tag not in _STANDARD_TAGS:
            raise doc.error(f"{doc.where(node)}: YAML tag {node.tag!r} is not allowed (only plain values)")
        if isinstance(node, MappingNode):
            stack.extend(item for pair in node.value for item in pair)
        elif isinstance(node, SequenceNode):
            stack.extend(node.value)


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
