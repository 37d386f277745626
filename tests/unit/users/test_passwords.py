"""Password rules and argon2 hashing of user-service."""

import pytest

from cloudmart.services.users.schemas import check_password_strength
from cloudmart.services.users.service import Passwords


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short1", "at least 10"),
        ("abcdefghijkl", "letter and one digit"),
        ("123456789012", "letter and one digit"),
        ("password1234", "too easy"),
        ("aaaa1111aaaa", "too easy"),
    ],
)
def test_weak_passwords_are_rejected_with_a_reason(password, message):
    with pytest.raises(ValueError, match=message):
        check_password_strength(password)


def test_strong_password_passes():
    assert check_password_strength("correct-horse-42") == "correct-horse-42"


async def test_argon2id_hash_verify_and_unknown_account():
    passwords = Passwords()
    stored = await passwords.hash("correct-horse-42")
    assert stored.startswith("$argon2id$") and "correct-horse-42" not in stored
    assert await passwords.verify(stored, "correct-horse-42")
    assert not await passwords.verify(stored, "correct-horse-43")
    assert not await passwords.verify(None, "correct-horse-42")  # unknown account: dummy hash, never true
    assert not await passwords.verify("not-a-hash", "x")
    assert not passwords.needs_rehash(stored)


async def test_hash_parameters_fit_the_pod_and_old_hashes_are_upgraded():
    from argon2 import PasswordHasher

    passwords = Passwords()
    stored = await passwords.hash("correct-horse-42")
    assert "$m=19456,t=2,p=1$" in stored
    legacy = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("correct-horse-42")
    assert await passwords.verify(legacy, "correct-horse-42")
    assert passwords.needs_rehash(legacy)
