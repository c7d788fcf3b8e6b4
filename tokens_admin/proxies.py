"""Which peers are our own proxies, and what the client's address is behind them.

Pure functions on ``ipaddress`` networks (``settings.TRUSTED_PROXY``, parsed by
``tokens_admin.env.env_proxies``; ``gunicorn.conf.py`` reads the same variable). A forwarded
header is information only when the TCP peer that sent it is one of those proxies: anyone else
can write whatever they like in it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# X-Forwarded-For entries looked at, from the right: one per proxy hop of ours is all that can
# matter, and a header of thousands of entries must not cost thousands of parses.
MAX_FORWARDED_ENTRIES = 16


def parse_address(text: str) -> Address | None:
    """An address as a proxy writes it (``203.0.113.7``, ``2001:db8::1``), else None; an
    IPv4-mapped IPv6 address (a dual-stack socket's view of an IPv4 peer) is the IPv4 one."""
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_trusted(address: Address | None, proxies: Sequence[Network]) -> bool:
    return address is not None and any(address in network for network in proxies)


def client_address(peer: str, forwarded_for: str, proxies: Sequence[Network]) -> str:
    """The TCP peer, or, when the peer is one of ``proxies``, the right-most X-Forwarded-For
    entry that is not a proxy of ours.

    Each proxy appends the address it received the request from, so reading from the right
    the entries are trustworthy up to and including the first one that is not our proxy; what
    is left of it came from the client. A malformed entry ends the walk at the last address
    known good (a proxy's): never a value the client could have chosen.
    """
    found = parse_address(peer)
    if not forwarded_for or not is_trusted(found, proxies):
        return peer[:64]
    entries = forwarded_for.rsplit(",", MAX_FORWARDED_ENTRIES)[-MAX_FORWARDED_ENTRIES:]
    for entry in reversed(entries):
        address = parse_address(entry)
        if address is None:
            break
        found = address
        if not is_trusted(address, proxies):
            break
    return str(found)
