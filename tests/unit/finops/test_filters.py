import pytest

from cloudmart.finops.filters import And, Cmp, FilterError, Or, matches, parse_filter, parse_v1

POD = {
    "cluster": "lab", "node": "w1", "namespace": "cloudmart", "controllerKind": "deployment", "controller": "user-service",
    "pod": "user-service-abc", "container": "user-service", "labels": {"app": "user-service", "team": "platform"},
    "annotations": {}, "namespaceLabels": {"team": "platform"},
}


def test_unquoted_seed_form_and_quoted_form_agree():
    assert parse_filter("namespace:cloudmart") == parse_filter('namespace:"cloudmart"') == Cmp("namespace", None, ":", ("cloudmart",))


@pytest.mark.parametrize(
    "text,expected",
    [
        ('namespace:"cloudmart"', True),
        ('namespace!:"cloudmart"', False),
        ('namespace:"a","cloudmart"', True),
        ('pod~:"service"', True),
        ('pod!~:"service"', False),
        ('pod<~:"user"', True),
        ('pod!<~:"user"', False),
        ('pod~>:"abc"', True),
        ('pod!~>:"abc"', False),
        ('label[app]:"user-service"', True),
        ('label[app]:"x"', False),
        ('namespaceLabel[team]:"platform"', True),
        ('namespace:"cloudmart"+controllerKind:"deployment"', True),
        ('namespace:"x"|node:"w1"', True),
        ('(namespace:"x"|node:"w1")+container:"nope"', False),
        ('controllerName:"user-service"', True),
        ('label[missing]:""', True),
    ],
)
def test_operators(text, expected):
    assert matches(parse_filter(text), POD) is expected


@pytest.mark.parametrize(
    "text,position,fragment",
    [
        ('namespace:"a"+node:"b"|pod:"c"', 22, "cannot mix"),
        ("bogus:x", 0, "unknown filter field"),
        ('namespace="x"', 9, "expected an operator"),
        ('namespace:"x', 10, "unterminated"),
        ('(namespace:"x"', 14, "expected ')'"),
        ("namespace:", 10, "expected a value"),
        ('label:"x"', 5, "needs a key"),
        ('namespace:"a" pod:"b"', 14, "unexpected"),
    ],
)
def test_errors_carry_positions(text, position, fragment):
    with pytest.raises(FilterError) as e:
        parse_filter(text)
    assert e.value.position == position
    assert fragment in str(e.value) and f"position {position}" in str(e.value)


def test_v1_params_or_within_and_across_with_wildcards():
    node = parse_v1({"filterNamespaces": "cloud*,staging", "filterLabels": "app:user-service"})
    assert isinstance(node, And)
    assert isinstance(node.parts[0], Or)
    assert matches(node, POD)
    assert not matches(parse_v1({"filterNamespaces": "staging"}), POD)
    assert matches(parse_v1({"filterControllers": "deployment:user-service"}), POD)
    assert parse_v1({}) is None
    with pytest.raises(FilterError):
        parse_v1({"filterLabels": "novalue"})
