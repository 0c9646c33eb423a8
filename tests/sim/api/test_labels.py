"""Label selector parser and label validation."""

import pytest

from khz_tui.sim.api.labels import SelectorError, label_errors, matches, parse_selector

LABELS = {"role": "cp", "cluster": "demo", "example.com/tier": "a", "empty": ""}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("role=cp", True),
        ("role==cp", True),
        ("role=worker", False),
        ("role!=worker", True),
        ("missing!=x", True),
        ("role", True),
        ("missing", False),
        ("!missing", True),
        ("!role", False),
        ("role in (cp,worker)", True),
        ("role in (worker, db)", False),
        ("role notin (worker)", True),
        ("role notin (cp, worker)", False),
        ("missing notin (a)", True),
        ("role=cp,cluster=demo", True),
        ("role=cp,cluster=other", False),
        ("role in (cp,worker),cluster=demo,!gone", True),
        ("example.com/tier=a", True),
        ("empty=", True),
    ],
)
def test_selector_semantics(selector: str, expected: bool) -> None:
    assert parse_selector(selector)(LABELS) is expected


@pytest.mark.parametrize("selector", ["", "role=cp,", "role in (a", "role in a)", "=x", "bad key=1", "a==b==c"])
def test_invalid_selectors_raise(selector: str) -> None:
    with pytest.raises(SelectorError):
        parse_selector(selector)


def test_matches_is_false_for_invalid_selector() -> None:
    assert matches("role in (", LABELS) is False


@pytest.mark.parametrize(
    ("labels", "ok"),
    [
        ({"role": "cp"}, True),
        ({"example.com/role": "cp", "k": ""}, True),
        ({"-bad": "x"}, False),
        ({"k": "x" * 64}, False),
        ({"hetzner.cloud/x": "y"}, False),
        ({"k": 1}, False),
        (["k"], False),
    ],
)
def test_label_validation(labels: object, ok: bool) -> None:
    assert (label_errors(labels) is None) is ok
