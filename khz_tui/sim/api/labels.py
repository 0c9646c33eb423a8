"""Labels: validation of keys and values, and the label selector language.

Selector grammar (comma = AND): `k=v`, `k==v`, `k!=v`, `k` (exists), `!k` (absent), `k in (a,b)`,
`k notin (a,b)`. Parsed once into predicates so list filtering and load balancer / firewall targets
share one implementation.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

_NAME = r"[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?"
_PREFIX = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*"
KEY_RE = re.compile(rf"^(({_PREFIX})/)?{_NAME}$")
VALUE_RE = re.compile(rf"^({_NAME})?$")

Predicate = Callable[[Mapping[str, str]], bool]


class SelectorError(ValueError):
    """The label selector does not parse."""


def label_errors(labels: Any) -> str | None:
    """Why these labels are invalid, or None when they are fine."""
    if not isinstance(labels, dict):
        return "labels must be an object of string keys and string values"
    for key, value in labels.items():
        if not isinstance(key, str) or not isinstance(value, str):
            return "label keys and values must be strings"
        prefix = key.split("/", 1)[0] if "/" in key else ""
        if not KEY_RE.match(key) or len(prefix) > 253:
            return f"invalid label key '{key}'"
        if prefix == "hetzner.cloud" or prefix.endswith(".hetzner.cloud"):
            return f"label key prefix '{prefix}/' is reserved"
        if not VALUE_RE.match(value):
            return f"invalid label value '{value}' for key '{key}'"
    return None


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    terms: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise SelectorError("unbalanced ')'")
        if ch == "," and depth == 0:
            terms.append("".join(current))
            current = []
        else:
            current.append(ch)
    if depth:
        raise SelectorError("unbalanced '('")
    terms.append("".join(current))
    return [t.strip() for t in terms]


_SET_RE = re.compile(r"^(?P<key>\S+)\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)$")
_CMP_RE = re.compile(r"^(?P<key>[^=!\s]+)\s*(?P<op>==|!=|=)\s*(?P<value>[^=!\s]*)$")


def _term(term: str) -> Predicate:
    if not term:
        raise SelectorError("empty selector term")
    if m := _SET_RE.match(term):
        key, op = m["key"], m["op"]
        values = {v.strip() for v in m["values"].split(",")}
        _check_key(key)
        for value in values:
            _check_value(value)
        if op == "in":
            return lambda labels: key in labels and labels[key] in values
        return lambda labels: key not in labels or labels[key] not in values
    if m := _CMP_RE.match(term):
        key, op, value = m["key"], m["op"], m["value"]
        _check_key(key)
        _check_value(value)
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: key in labels and labels[key] == value
    if term.startswith("!"):
        key = term[1:].strip()
        _check_key(key)
        return lambda labels: key not in labels
    _check_key(term)
    return lambda labels: term in labels


def _check_key(key: str) -> None:
    if not KEY_RE.match(key):
        raise SelectorError(f"invalid label key '{key}' in selector")


def _check_value(value: str) -> None:
    # The spec's "Labels": a valid value is empty or begins and ends with an alphanumeric, so a
    # selector value such as `*` can never match a label: Hetzner refuses it as invalid input rather
    # than answering an empty list, and a client that hopes for a wildcard learns it at once.
    if not VALUE_RE.match(value):
        raise SelectorError(f"invalid label value '{value}' in selector")


@lru_cache(maxsize=256)
def parse_selector(text: str) -> Predicate:
    """Compile a label selector into a predicate over a labels mapping; raises SelectorError.

    Cached: `matches` is asked once per server for every selector target of every load balancer and
    firewall that a response renders, always with the same few selectors."""
    predicates = [_term(t) for t in _split_terms(text)]
    return lambda labels: all(p(labels) for p in predicates)


def matches(selector: str, labels: Mapping[str, str]) -> bool:
    """True when `labels` satisfy `selector` (an invalid selector matches nothing)."""
    try:
        return parse_selector(selector)(labels)
    except SelectorError:
        return False
