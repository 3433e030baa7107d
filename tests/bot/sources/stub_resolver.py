"""A DNS resolver for tests: answers from a table, never touches the network."""

from __future__ import annotations

import socket
from collections.abc import Mapping, Sequence

from aiohttp.abc import AbstractResolver, ResolveResult


class StubResolver(AbstractResolver):
    """aiohttp's resolver interface over `table` (host name → addresses); any other name fails as an unknown
    host does. `table` may be changed between lookups (a name re-resolving elsewhere: DNS rebinding)."""

    def __init__(self, table: Mapping[str, Sequence[str]] | None = None) -> None:
        self.table: dict[str, list[str]] = {
            host: list(addresses) for host, addresses in (table or {}).items()
        }
        self.lookups: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.lookups.append(host)
        addresses = self.table.get(host)
        if not addresses:
            raise socket.gaierror(socket.EAI_NONAME, f"unknown host {host}")
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": socket.AF_INET6 if ":" in address else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
            }
            for address in addresses
        ]

    async def close(self) -> None:
        return None
