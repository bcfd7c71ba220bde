"""The catalogue: what a valid file resolves to, and one exact line per problem in an invalid one."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from brandscan.engine.catalog import (
    Alias,
    default_aspects,
    default_case_sensitive,
    load_catalog,
    parse_catalog,
)
from brandscan.engine.errors import BrandscanError, CatalogError

EXAMPLE = Path(__file__).resolve().parents[1] / "configs" / "brands.example.yaml"


def parse(text: str):
    return parse_catalog(textwrap.dedent(text).lstrip("\n"), "cat.yaml")


def errors(text: str) -> list[str]:
    with pytest.raises(CatalogError) as caught:
        parse(text)
    return str(caught.value).splitlines()


def test_example_catalogue_loads_with_every_field_resolved() -> None:
    catalog = load_catalog(EXAMPLE)
    norvik = catalog.brand("norvik")
    assert norvik.name == "Norvik Outdoor"
    assert Alias("NVK", True) in norvik.aliases and Alias("Norvik", False) in norvik.aliases
    jacket = next(p for p in norvik.products if p.name == "Fjordline Shell Jacket")
    assert jacket.noun == "jacket" and jacket.aliases[0] == Alias("Fjordline", False)
    assert norvik.handles == ("@norvikoutdoor", "#norvikgear")
    assert catalog.brand("aurora-air").nouns == ("airline", "carrier")
    assert catalog.brand("halyards").number == "plural"
    amazon = catalog.brand("amazon")
    assert amazon.ambiguous and "delivery" in amazon.context
    assert amazon.aliases == (Alias("Amazon.com", True),)  # ambiguous brand: case-sensitive
    assert catalog.brand("rivers-bank").nouns == ("bank",)  # default: (category,)
    assert [a.id for a in catalog.aspects][:2] == ["product_quality", "waterproofing"]
    assert catalog.brand("rivers-bank").number == "singular"


def test_default_rule_short_or_ambiguous_names_are_case_sensitive() -> None:
    assert default_case_sensitive("KLM", False) and default_case_sensitive("Ikea", False)
    assert default_case_sensitive("H & M", False)  # whitespace does not count towards the length
    assert not default_case_sensitive("Norvik", False)
    assert default_case_sensitive("Norvik", True)
    catalog = parse("""
        brands:
          - id: x
            name: Example Co
            aliases: [EX, Exemplar, {text: Exemplary, case_sensitive: true}, {text: EXCO, case_sensitive: false}]
    """)
    assert catalog.brands[0].aliases == (Alias("EX", True), Alias("Exemplar", False),
                                         Alias("Exemplary", True), Alias("EXCO", False))


def test_products_as_strings_or_mappings_and_default_aspects_when_absent() -> None:
    catalog = parse("""
        brands:
          - id: acme
            name: Acme
            products: [Roadrunner 3, {name: Anvil Pro, noun: anvil, aliases: [the Pro]}]
    """)
    first, second = catalog.brands[0].products
    assert (first.name, first.noun, first.aliases) == ("Roadrunner 3", None, ())
    assert (second.name, second.noun, second.aliases) == ("Anvil Pro", "anvil", (Alias("the Pro", False),))
    assert catalog.aspects == default_aspects()
    assert [a.id for a in default_aspects()] == [
        "product_quality", "price_value", "shipping_delivery", "customer_service", "battery",
        "comfort", "reliability", "management", "earnings_guidance"]
    assert parse("brands: [{id: a, name: Acme}]\naspects: []\n").aspects == ()


def test_sha256_ignores_formatting_but_not_content() -> None:
    a = parse("brands: [{id: a, name: Acme, aliases: [Acme Corp]}]\n")
    b = parse("""
        # a comment
        brands:
          - id: a
            aliases:
              - "Acme Corp"
            name: 'Acme'
    """)
    c = parse("brands: [{id: a, name: Acme, aliases: [Acme Corporation]}]\n")
    assert a.sha256 == b.sha256 != c.sha256


@pytest.mark.parametrize(
    "text, expected",
    [
        ("brands:\n  - id: a\n    name: A\n    colour: red\n",
         ("cat.yaml:4:5: unknown brand key `colour`; expected one of: id, name, aliases, products, "
         "handles, category, nouns, number, ambiguous, context")),
        ("brand: []\n",
         ("cat.yaml:1:1: unknown catalogue key `brand`; expected one of: brands, aspects\n"
         "cat.yaml:1:1: catalogue is missing required key `brands`")),
        ("brands:\n  - id: a\n    name: Acme\n    aliases: Acme Corp\n",
         "cat.yaml:4:14: `aliases` must be a list, got string `Acme Corp`"),
        ("brands:\n  - id: a\n    name: Acme\n    ambiguous: maybe\n",
         "cat.yaml:4:16: `ambiguous` must be true or false, got string `maybe`"),
        ("brands:\n  - id: a\n    name: no\n",
         'cat.yaml:3:11: `name` must be a string, got boolean `no`; quote it: "no"'),
        ("brands:\n  - name: Acme\n",
         "cat.yaml:2:5: brand is missing required key `id`"),
        ("brands:\n  - id: a\n    name: Acme\n  - id: a\n    name: Acme Two\n",
         "cat.yaml:4:9: duplicate brand id `a` (first at line 2)"),
        ("brands:\n  - id: a\n    name: Acme\n  - id: b\n    name: Bolt\n    aliases: [ACME]\n",
         ("cat.yaml:6:15: `ACME` is also a name of brand `a` (`Acme` at line 3); "
         "a name must belong to one brand")),
        ("brands:\n  - id: a\n    name: Acme\n    aliases: ['', '  ']\n",
         ("cat.yaml:4:15: empty alias: a name to match needs at least one visible character\n"
         "cat.yaml:4:19: empty alias: a name to match needs at least one visible character")),
        ("brands:\n  - id: a\n    name: Acme\n    number: many\n",
         "cat.yaml:4:13: `number` is `many`; expected one of: singular, plural"),
        ("brands:\n  - id: a\n    name: Acme\n    handles: [acme]\n",
         ("cat.yaml:4:15: handle `acme` must be @ or # followed by letters, digits or `_` "
         "(e.g. @acme, #acmegear)")),
        ("brands:\n  - id: a\n    name: Acme\n    aliases: [{text: AC, case: true}]\n",
         "cat.yaml:4:26: unknown alias key `case`; expected one of: text, case_sensitive"),
        ("brands:\n  - id: a\n    name: Acme\n    name: Acme 2\n",
         "cat.yaml:4:5: duplicate key `name` (first at line 3)"),
        ("brands:\n  - id: a b\n    name: Acme\n",
         ("cat.yaml:2:9: brand id `a b` must be letters, digits, `_`, `-` or `.`, "
         "starting with a letter or digit")),
        ("brands:\n  - id: a\n    name: Acme\n  - Bolt\n",
         ("cat.yaml:4:5: expected a brand (a mapping with keys: id, name, aliases, products, handles, "
         "category, nouns, number, ambiguous, context), got string `Bolt`")),
        ("brands: []\n", "cat.yaml:1:9: `brands` is empty; list at least one brand"),
        ("aspects: []\n", "cat.yaml:1:1: catalogue is missing required key `brands`"),
        (("brands: [{id: a, name: A}]\naspects:\n  - id: x\n    terms: [fit]\n  - id: y\n"
         "    terms: [Fit]\n"),
         "cat.yaml:6:13: term `Fit` is also a term of aspect `x` (line 4)"),
        ("brands: [{id: a, name: A}]\naspects:\n  - id: x\n    terms: []\n",
         "cat.yaml:4:12: `terms` is empty; list at least one term"),
        (("brands: [{id: a, name: A}]\naspects:\n  - id: x\n    terms: [fit]\n  - id: x\n"
         "    terms: [seat]\n"),
         "cat.yaml:5:9: duplicate aspect id `x` (first at line 3)"),
    ],
)
def test_each_problem_is_one_line_naming_line_and_column(text: str, expected: str) -> None:
    with pytest.raises(CatalogError) as caught:
        parse_catalog(text, "cat.yaml")
    assert str(caught.value) == expected


def test_every_problem_is_reported_in_file_order() -> None:
    lines = errors("""
        brands:
          - id: a
            name: Acme
            number: lots
          - id: b
            nme: Bolt
    """)
    assert lines == [
        "cat.yaml:4:13: `number` is `lots`; expected one of: singular, plural",
        "cat.yaml:5:5: brand is missing required key `name`",
        ("cat.yaml:6:5: unknown brand key `nme`; expected one of: id, name, aliases, products, "
        "handles, category, nouns, number, ambiguous, context"),
    ]


def test_yaml_syntax_error_carries_the_parsers_position() -> None:
    with pytest.raises(CatalogError) as caught:
        parse_catalog("brands:\n  - id: a\n    name: [Acme\n", "cat.yaml")
    assert str(caught.value).startswith("cat.yaml:4:1: YAML syntax error: ")
    with pytest.raises(CatalogError, match=r"^cat\.yaml:2:8: YAML syntax error: found character"):
        parse_catalog("brands:\n  - id:\ta\n", "cat.yaml")


@pytest.mark.parametrize("text", ["", "\n# only a comment\n", "---\n"])
def test_empty_file(text: str) -> None:
    with pytest.raises(CatalogError) as caught:
        parse_catalog(text, "cat.yaml")
    assert str(caught.value) == "cat.yaml:1:1: empty catalogue; expected a mapping with keys: brands, aspects"


def test_load_catalog_reads_files_and_reports_unreadable_ones(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(b"\xef\xbb\xbfbrands: [{id: a, name: Acme}]\n")  # a BOM is fine
    assert load_catalog(path).brands[0].name == "Acme"
    path.write_bytes(b"brands:\n  - id: a\n    name: Ac\xffme\n")
    with pytest.raises(CatalogError, match=r"c\.yaml:3:13: catalogue is not valid UTF-8$"):
        load_catalog(path)
    missing = tmp_path / "missing.yaml"
    with pytest.raises(CatalogError, match=r"missing\.yaml: cannot read catalogue"):
        load_catalog(missing)
    assert issubclass(CatalogError, BrandscanError)


def test_yaml_tags_that_construct_objects_are_refused() -> None:
    with pytest.raises(CatalogError):
        parse_catalog("brands: !!python/object/apply:os.system ['true']\n", "cat.yaml")


def test_numbers_are_taken_as_written() -> None:
    catalog = parse("brands: [{id: a, name: 1800 Flowers, aliases: [1800, 3.10]}]\n")
    assert [a.text for a in catalog.brands[0].aliases] == ["1800", "3.10"]


def test_brand_lookup_names_the_missing_id() -> None:
    catalog = parse("brands: [{id: a, name: Acme}]\n")
    with pytest.raises(KeyError, match="no brand 'zz' in cat.yaml"):
        catalog.brand("zz")
