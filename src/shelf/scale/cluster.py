"""Connecting to Ray: a local cluster on loopback only, or an existing cluster by address.

Ray reads its networking settings when it is imported, so this module sets them first and is
the one place shelf imports ray from (``from shelf.scale.cluster import ray``):
``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` (with it unset, a local Ray listened on every
interface even when given 127.0.0.1) and ``RAY_USAGE_STATS_ENABLED=0`` (no reporting home).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from shelf.errors import ConfigError

LOOPBACK = "127.0.0.1"
RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}

if "ray" not in sys.modules:  # the settings only take effect before the first import
    for _name, _value in RAY_ENV.items():
        os.environ.setdefault(_name, _value)
# whether the ray imported below reads the loopback settings
LOOPBACK_SAFE = all(os.environ.get(k) == v for k, v in RAY_ENV.items())

try:
    import ray
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ConfigError("the Ray engine needs the ray extra: pip install 'shelf[ray]'") from exc

__all__ = ["LOOPBACK", "connect", "ray", "require_ray"]


@contextmanager
def connect(address: str | None = None, *, num_cpus: int | None = None) -> Iterator[None]:
    """A Ray session for the block: a local cluster on 127.0.0.1 when ``address`` is None,
    else the cluster at ``address`` (``ray://host:10001`` or ``host:6379``). Shuts down what
    it started; joins an already initialised session without touching it."""
    if ray.is_initialized():
        yield
        return
    if address is None:
        if not LOOPBACK_SAFE:
            raise ConfigError(
                "ray was imported before shelf.scale.cluster without "
                + " ".join(f"{k}={v}" for k, v in RAY_ENV.items())
                + ", so a local Ray would listen on every interface: set them in the "
                "environment or import shelf.scale.cluster before ray"
            )
        ray.init(
            address="local",
            _node_ip_address=LOOPBACK,
            num_cpus=num_cpus,
            include_dashboard=False,
            configure_logging=False,
            log_to_driver=False,
        )
    else:
        ray.init(address=address, configure_logging=False)
    try:
        yield
    finally:
        ray.shutdown()


def require_ray() -> None:
    """Raise unless a Ray session is open (a bare remote call would start an unconfigured
    cluster listening on every interface)."""
    if not ray.is_initialized():
        raise ConfigError(
            "no Ray session: open one with shelf.scale.cluster.connect() (or pass --engine local)"
        )
