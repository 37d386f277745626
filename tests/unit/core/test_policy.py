"""The Rego authorization policy evaluated in-process, through PolicyEngine and authorize()."""

import pytest

from cloudmart.core.auth import Principal
from cloudmart.core.deps import authorize
from cloudmart.core.errors import Forbidden, Unauthorized
from cloudmart.core.policy import PolicyEngine, PolicyError, default_engine

alice = Principal("alice", "alice@example.com", ("customer",))
admin = Principal("root", "root@example.com", ("admin",))


@pytest.mark.parametrize(
    ("principal", "action", "resource", "allow"),
    [
        (alice, "read", {"type": "order", "owner": "alice"}, True),
        (alice, "read", {"type": "order", "owner": "bob"}, False),
        (alice, "create", {"type": "product"}, False),
        (None, "list", {"type": "product"}, True),
        (admin, "delete", {"type": "product"}, True),
        (None, "read", {"type": "order", "owner": "alice"}, False),
    ],
)
def test_decisions(principal, action, resource, allow):
    assert default_engine().decide(principal, action, resource).allow is allow


def test_authorize_raises_403_with_reason_and_401_when_anonymous():
    assert authorize(alice, "read", {"type": "order", "owner": "alice"}) == "owner"
    with pytest.raises(Forbidden, match="belongs to another user"):
        authorize(alice, "cancel", {"type": "order", "owner": "bob"})
    with pytest.raises(Unauthorized, match="authentication required"):
        authorize(None, "create", {"type": "order", "owner": None})


def test_engine_needs_policies(tmp_path):
    with pytest.raises(PolicyError, match="no .rego"):
        PolicyEngine.from_dir(tmp_path)
    with pytest.raises(PolicyError):
        PolicyEngine({})
