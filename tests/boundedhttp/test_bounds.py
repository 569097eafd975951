"""Bounds: refused when a bound is not a bound; the connection cap leaves room for the process's own files.
The protocol itself is tested against a real gateway: tests/gateway/test_http_bounds_live.py."""

from __future__ import annotations

import functools
import pickle
import resource

import pytest

from boundedhttp import Bounds, uvicorn_kwargs
from boundedhttp.bounds import FD_RESERVE


@pytest.mark.parametrize(
    "bad", [{"max_header_bytes": 0}, {"max_connections": 0}, {"header_timeout": 0}, {"body_timeout": -1}]
)
def test_a_bound_must_bound(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        Bounds(**bad)  # type: ignore[arg-type]


def test_the_connection_cap_stays_below_the_descriptor_limit() -> None:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert Bounds(max_connections=10).connection_cap() == min(10, soft - FD_RESERVE)
    assert Bounds(max_connections=10**9).connection_cap() == soft - FD_RESERVE


def test_the_uvicorn_settings_carry_the_bounds_into_spawned_workers() -> None:
    bounds = Bounds(header_timeout=3.5, max_header_bytes=4096)
    kwargs = uvicorn_kwargs(bounds)
    assert (kwargs["proxy_headers"], kwargs["limit_concurrency"]) == (False, None)
    factory = pickle.loads(pickle.dumps(kwargs["http"]))  # uvicorn's workers are spawned: pickled
    assert isinstance(factory, functools.partial)
    assert factory.keywords == {"bounds": bounds}
