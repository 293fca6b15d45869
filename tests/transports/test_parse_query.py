"""``routing.parse_query`` is a hand-written ``parse_qsl`` (first value wins, blank values
kept): it must agree with the standard library on any input, escapes and junk included."""

from __future__ import annotations

import random
from urllib.parse import parse_qsl

import pytest

from socketwire.transports.routing import parse_query


def reference(query: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        result.setdefault(key, value)
    return result


@pytest.mark.parametrize(
    "query",
    [
        "",
        "EIO=4&transport=polling&sid=AbC-_1",
        "a=1&a=2",
        "a&b=&=c&&",
        "name=J%C3%A9r%C3%B4me+D&x=%zz&y=%2",
        "t=1;2&u=a=b",
        "+=+&%20=%2B",
    ],
)
def test_known_queries(query: str) -> None:
    assert parse_query(query) == reference(query)


def test_random_queries_agree_with_parse_qsl() -> None:
    rng = random.Random(5)
    alphabet = "ab=&%+2F0x;é "
    for _ in range(5000):
        query = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))
        assert parse_query(query) == reference(query), query
