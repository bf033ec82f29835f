"""SCIM filters and PATCH paths (RFC 7644 §3.4.2.2 and §3.5.2): parsed into a small tree of
typed nodes, checked against the schemas (:mod:`.schema`), evaluated against a resource.

Written here rather than taken from a library: the grammar is a page of ABNF, and the Python
SCIM filter parsers either translate filters to SQL for a web framework's ORM or come with a
whole SCIM server model; neither evaluates a filter against the few attributes kept here.

Grammar (operators and attribute names case-insensitive; ``not`` binds tighter than ``and``,
``and`` tighter than ``or``)::

    FILTER    = attrExp / logExp / valuePath / *1"not" "(" FILTER ")" / "(" FILTER ")"
    valuePath = attrPath "[" valFilter "]"
    attrExp   = (attrPath SP "pr") / (attrPath SP compareOp SP compValue)
    compareOp = "eq" / "ne" / "co" / "sw" / "ew" / "gt" / "lt" / "ge" / "le"
    compValue = false / null / true / number / string      ; JSON literals
    attrPath  = [URI ":"] ATTRNAME *1subAttr
    PATH      = attrPath / valuePath [subAttr]               ; a PATCH operation's path

A resource is evaluated as a *view*: a dict of its kept attributes keyed by lower-case name
(sub-attributes likewise, multi-valued ones as lists of dicts). An attribute that is defined
but absent from the view has no value: every comparison with it is false (``eq null`` and
``ne`` are true), ``pr`` is false.

>>> f = parse_filter('userName eq "Ana@Example.com" and not (active eq false)', "User")
>>> matches(f, {"username": "ana@example.com", "active": True})
True
>>> matches(parse_filter('emails[type eq "work"]', "User"), {"username": "ana"})
False
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from sentinelle.connectors.scim.schema import Attribute, find
from sentinelle.errors import Error

__all__ = [
    "And",
    "AttrPath",
    "Compare",
    "Filter",
    "FilterError",
    "Not",
    "Or",
    "PatchPath",
    "Present",
    "ValuePath",
    "matches",
    "parse_filter",
    "parse_path",
]

#: A filter longer than this is refused: an identity provider's are a few dozen characters.
MAX_FILTER: Final = 4096
_MAX_DEPTH: Final = 32  # nesting of parentheses and "not"

_COMPARE: Final = frozenset({"eq", "ne", "co", "sw", "ew", "gt", "lt", "ge", "le"})
_ORDER: Final = frozenset({"gt", "lt", "ge", "le"})
_TEXT: Final = frozenset({"co", "sw", "ew"})
_TOKEN: Final = re.compile(
    r'\s*(?:(?P<punct>[()\[\]])|(?P<str>"(?:[^"\\]|\\.)*")|(?P<word>[^\s()\[\]"]+))'
)
_ATTRNAME: Final = re.compile(r"[A-Za-z$][A-Za-z0-9_$-]*\Z")
_NUMBER: Final = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?\Z")

Value = str | bool | int | float | None


class FilterError(Error):
    """A filter or path that does not parse, or names an attribute the schema does not
    define (the API answers 400 ``invalidFilter`` or ``invalidPath``)."""


@dataclass(frozen=True, slots=True)
class AttrPath:
    """An attribute (and maybe one of its sub-attributes), resolved in the schema."""

    attribute: Attribute
    child: Attribute | None = None

    def __str__(self) -> str:
        return self.attribute.name + (f".{self.child.name}" if self.child else "")


@dataclass(frozen=True, slots=True)
class Compare:
    """``attrPath op value``."""

    path: AttrPath
    op: str
    value: Value


@dataclass(frozen=True, slots=True)
class Present:
    """``attrPath pr``: the attribute has a value."""

    path: AttrPath


@dataclass(frozen=True, slots=True)
class And:
    """Both."""

    left: Filter
    right: Filter


@dataclass(frozen=True, slots=True)
class Or:
    """Either."""

    left: Filter
    right: Filter


@dataclass(frozen=True, slots=True)
class Not:
    """``not (…)``."""

    inner: Filter


@dataclass(frozen=True, slots=True)
class ValuePath:
    """``attr[filter]``: some value of a multi-valued attribute matches ``filter``, whose
    paths are the attribute's sub-attributes."""

    path: AttrPath
    filter: Filter


Filter = Compare | Present | And | Or | Not | ValuePath


@dataclass(frozen=True, slots=True)
class PatchPath:
    """A PATCH operation's target: an attribute, maybe only its values that match
    ``filter``, maybe only a sub-attribute of those (``emails[type eq "work"].value``)."""

    path: AttrPath
    filter: Filter | None = None
    child: Attribute | None = None


# -- parsing -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # punct, str, word
    text: str
    at: int


def _tokens(text: str) -> list[_Token]:
    if len(text) > MAX_FILTER:
        raise FilterError(f"longer than {MAX_FILTER} characters")
    found = []
    at = 0
    while at < len(text):
        if text[at:].isspace():
            break
        m = _TOKEN.match(text, at)
        if m is None or m.lastgroup is None:
            raise FilterError(f"unexpected {text[at:].strip()[:20]!r} at position {at}")
        found.append(_Token(m.lastgroup, m.group(m.lastgroup), m.start(m.lastgroup)))
        at = m.end()
    return found


class _Parser:
    def __init__(self, text: str, resource: str) -> None:
        self.text = text
        self.resource = resource
        self.tokens = _tokens(text)
        self.i = 0
        self.depth = 0

    # tokens
    def peek(self) -> _Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            raise FilterError("ends too early")
        self.i += 1
        return token

    def keyword(self, *words: str) -> str | None:
        token = self.peek()
        if token is not None and token.kind == "word" and token.text.lower() in words:
            self.i += 1
            return token.text.lower()
        return None

    def expect(self, punct: str) -> None:
        token = self.peek()
        if token is None or token.text != punct or token.kind != "punct":
            where = "the end" if token is None else f"{token.text!r} at position {token.at}"
            raise FilterError(f"expected {punct!r}, found {where}")
        self.i += 1

    def done(self) -> None:
        token = self.peek()
        if token is not None:
            raise FilterError(f"unexpected {token.text!r} at position {token.at}")

    # grammar
    def filter(self, parent: Attribute | None) -> Filter:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise FilterError(f"nested more than {_MAX_DEPTH} deep")
        left = self.conjunction(parent)
        while self.keyword("or"):
            left = Or(left, self.conjunction(parent))
        self.depth -= 1
        return left

    def conjunction(self, parent: Attribute | None) -> Filter:
        left = self.unary(parent)
        while self.keyword("and"):
            left = And(left, self.unary(parent))
        return left

    def unary(self, parent: Attribute | None) -> Filter:
        if self.keyword("not"):
            self.expect("(")
            inner = self.filter(parent)
            self.expect(")")
            return Not(inner)
        token = self.take()
        if token.kind == "punct" and token.text == "(":
            inner = self.filter(parent)
            self.expect(")")
            return inner
        if token.kind != "word":
            raise FilterError(f"expected an attribute, found {token.text!r} at position {token.at}")
        path = self.attr_path(token.text, parent)
        after = self.peek()
        if after is not None and after.kind == "punct" and after.text == "[":
            if parent is not None:
                raise FilterError(f"a value filter cannot nest, at position {after.at}")
            if path.child is not None or not path.attribute.multi:
                raise FilterError(f"{path} is not a multi-valued attribute: it takes no [filter]")
            self.i += 1
            inner = self.filter(path.attribute)
            self.expect("]")
            return ValuePath(path, inner)
        op = self.take()
        name = op.text.lower()
        if op.kind != "word" or name not in _COMPARE | {"pr"}:
            raise FilterError(
                f"expected an operator (eq, ne, co, sw, ew, gt, lt, ge, le, pr) after {path}, "
                f"found {op.text!r} at position {op.at}"
            )
        if name == "pr":
            return Present(path)
        return Compare(path, name, self.value(path, name))

    def value(self, path: AttrPath, op: str) -> Value:
        token = self.take()
        value: Value
        if token.kind == "str":
            try:
                value = json.loads(token.text)
            except json.JSONDecodeError:
                raise FilterError(f"bad string at position {token.at}") from None
        elif token.kind == "word" and token.text in ("true", "false", "null"):
            value = {"true": True, "false": False, "null": None}[token.text]
        elif token.kind == "word" and _NUMBER.match(token.text):
            number = float(token.text)
            value = int(number) if number.is_integer() and "." not in token.text else number
        else:
            raise FilterError(
                f"expected a value (a string in double quotes, a number, true, false or null) "
                f"after {path} {op}, found {token.text!r} at position {token.at}"
            )
        target = path.child or path.attribute
        if op in _ORDER and (value is None or isinstance(value, bool) or target.type == "boolean"):
            raise FilterError(f"{op} cannot compare {path} with {token.text}")
        if op in _TEXT and not isinstance(value, str):
            raise FilterError(f"{op} needs a string, not {token.text}")
        if target.type == "dateTime" and isinstance(value, str) and _instant(value) is None:
            raise FilterError(f"{path} is a time: {value!r} is not an RFC 3339 time")
        return value

    def attr_path(self, text: str, parent: Attribute | None) -> AttrPath:
        schema: str | None = None
        rest = text
        if text.lower().startswith("urn:"):
            schema, _, rest = text.rpartition(":")
            if parent is not None:
                raise FilterError(f"{text}: a sub-attribute takes no schema")
        names = rest.split(".")
        if len(names) > 2 or not all(_ATTRNAME.match(n) for n in names):
            raise FilterError(f"{text!r} is not an attribute path")
        if parent is not None:
            child = parent.child(names[0])
            if child is None or len(names) > 1:
                raise FilterError(f"{parent.name} has no sub-attribute {rest!r}")
            return AttrPath(child)
        attribute = find(self.resource, schema, names[0])
        if attribute is None:
            raise FilterError(f"{self.resource} has no attribute {text!r}")
        if len(names) == 1:
            return AttrPath(attribute)
        sub = attribute.child(names[1])
        if sub is None:
            raise FilterError(f"{attribute.name} has no sub-attribute {names[1]!r}")
        return AttrPath(attribute, sub)


def parse_filter(text: str, resource: str) -> Filter:
    """The filter ``text`` over ``resource`` (``User`` or ``Group``). Raises
    :class:`FilterError` saying what is wrong and where."""
    parser = _Parser(text, resource)
    if not parser.tokens:
        raise FilterError("empty")
    found = parser.filter(None)
    parser.done()
    return found


def parse_path(text: str, resource: str) -> PatchPath:
    """A PATCH operation's ``path`` over ``resource``. Raises :class:`FilterError`."""
    parser = _Parser(text, resource)
    token = parser.take()
    if token.kind != "word":
        raise FilterError(f"expected an attribute, found {token.text!r}")
    path = parser.attr_path(token.text, None)
    found = PatchPath(path)
    after = parser.peek()
    if after is not None and after.kind == "punct" and after.text == "[":
        if path.child is not None or not path.attribute.multi:
            raise FilterError(f"{path} is not a multi-valued attribute: it takes no [filter]")
        parser.i += 1
        inner = parser.filter(path.attribute)
        parser.expect("]")
        child = None
        tail = parser.peek()
        if tail is not None and tail.kind == "word" and tail.text.startswith("."):
            parser.i += 1
            child = path.attribute.child(tail.text[1:])
            if child is None:
                raise FilterError(f"{path} has no sub-attribute {tail.text[1:]!r}")
        found = PatchPath(path, inner, child)
    parser.done()
    return found


# -- evaluation --------------------------------------------------------------------------------


def matches(node: Filter, view: Mapping[str, Any]) -> bool:
    """Whether the resource (or multi-valued element) ``view`` matches ``node``."""
    if isinstance(node, And):
        return matches(node.left, view) and matches(node.right, view)
    if isinstance(node, Or):
        return matches(node.left, view) or matches(node.right, view)
    if isinstance(node, Not):
        return not matches(node.inner, view)
    if isinstance(node, ValuePath):
        elements = view.get(node.path.attribute.name.lower())
        return isinstance(elements, list) and any(
            isinstance(e, Mapping) and matches(node.filter, e) for e in elements
        )
    values = _values(node.path, view)
    if isinstance(node, Present):
        return any(v not in (None, "") for v in values)
    if node.op == "eq" and node.value is None:
        return not values
    if node.op == "ne":
        return not any(_compare("eq", v, node.value, node.path) for v in values)
    return any(_compare(node.op, v, node.value, node.path) for v in values)


def _values(path: AttrPath, view: Mapping[str, Any]) -> list[Any]:
    """The values ``path`` reaches in ``view`` (a multi-valued complex attribute without a
    sub-attribute stands for its ``value``s, as RFC 7644 says)."""
    found = view.get(path.attribute.name.lower())
    if found is None:
        return []
    items = found if isinstance(found, list) else [found]
    key = path.child.name.lower() if path.child else ("value" if path.attribute.sub else None)
    if key is None:
        return [v for v in items if v is not None]
    return [i.get(key) for i in items if isinstance(i, Mapping) and i.get(key) is not None]


def _compare(op: str, have: Any, want: Value, path: AttrPath) -> bool:
    target = path.child or path.attribute
    if isinstance(have, bool) or isinstance(want, bool):
        return op == "eq" and have is want
    if target.type == "dateTime" and isinstance(have, str) and isinstance(want, str):
        a, b = _instant(have), _instant(want)
        if a is None or b is None:
            return False
        return _ordered(op, a, b)
    if isinstance(have, str) and isinstance(want, str):
        text: str = have if target.case_exact else have.casefold()
        wanted = want if target.case_exact else want.casefold()
        if op == "co":
            return wanted in text
        if op == "sw":
            return text.startswith(wanted)
        if op == "ew":
            return text.endswith(wanted)
        return _ordered(op, text, wanted)
    if isinstance(have, int | float) and isinstance(want, int | float) and op not in _TEXT:
        return _ordered(op, have, want)
    return False


def _ordered(op: str, a: Any, b: Any) -> bool:
    if op == "eq":
        return bool(a == b)
    if op == "gt":
        return bool(a > b)
    if op == "ge":
        return bool(a >= b)
    if op == "lt":
        return bool(a < b)
    if op == "le":
        return bool(a <= b)
    return False


def _instant(text: str) -> dt.datetime | None:
    try:
        found = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return found.replace(tzinfo=dt.UTC) if found.tzinfo is None else found
