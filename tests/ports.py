"""Ports for the servers the tests start.

A port the kernel hands out with ``bind(0)`` comes from the ephemeral range, the same range it uses
for the local end of outgoing connections (PostgreSQL, Redis, httpx...). Between picking such a port
and the server binding it, another test's connection may take it ("Address already in use", seen in
CI). Ports below the ephemeral range are never given to outgoing connections, so picking there and
checking the bind leaves only other servers to collide with, which this process remembers.
"""

import random
import socket

_LOW, _HIGH = 20000, 32000  # below Linux's default ip_local_port_range (32768-60999)
_given: set[int] = set()


def free_port() -> int:
    for _ in range(200):
        port = random.randint(_LOW, _HIGH)
        if port in _given:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _given.add(port)
        return port
    raise RuntimeError(f"no free port between {_LOW} and {_HIGH}")
