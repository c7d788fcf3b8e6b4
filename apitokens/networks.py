"""Where a token may be used from (issue 17): its allowlist of IP ranges.

An entry is a CIDR range, IPv4 or IPv6, or an address without a prefix (one host); at most
``MAX_RANGES``; an empty list means any address. Kept normalised, one space between entries,
in ``ApiToken.allowed_ips``; the Bearer lookup reads that text with the token's row and tests
the client's address against it in memory (parsed once per distinct text, then cached).
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Final

MAX_RANGES: Final = 50
MAX_ENTRY: Final = 64  # the longest IPv6 range written out is 43 characters

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class RangesRefused(ValueError):
    """Why entries were refused, one message per entry, naming it."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _entry_problem(position: int, entry: str, what: str = "Entry") -> str | None:
    shown = entry if len(entry) <= MAX_ENTRY else entry[:MAX_ENTRY] + "…"
    if not entry:
        return f"{what} {position} is empty."
    # (A scoped IPv6 address, fe80::1%eth0, names a link of one host: never a client's.)
    if len(entry) > MAX_ENTRY or "%" in entry:
        return f"{what} {position} ({shown!r}) is not an IP address or CIDR range."
    try:
        ipaddress.ip_network(entry, strict=True)
    except ValueError as exc:
        if "has host bits set" in str(exc):
            network = ipaddress.ip_network(entry, strict=False)
            return (
                f"{what} {position} ({entry!r}) has host bits set: did you mean "
                f"{network.with_prefixlen!r}?"
            )
        return f"{what} {position} ({shown!r}) is not an IP address or CIDR range."
    return None


def normalise(entries: list[str], *, what: str = "Entry") -> list[str]:
    """The entries as stored (``10.0.0.0/8``, ``2001:db8::/32``, a host as ``192.0.2.7/32``),
    in the order given, repeats dropped; ``RangesRefused`` names every bad entry."""
    if len(entries) > MAX_RANGES:
        raise RangesRefused([f"At most {MAX_RANGES} ranges; {len(entries)} were given."])
    cleaned = [entry.strip() for entry in entries]
    problems = [
        problem
        for position, entry in enumerate(cleaned, start=1)
        if (problem := _entry_problem(position, entry, what)) is not None
    ]
    if problems:
        raise RangesRefused(problems)
    shown = (ipaddress.ip_network(entry).with_prefixlen for entry in cleaned)
    return list(dict.fromkeys(shown))


def stored(entries: list[str]) -> str:
    return " ".join(entries)


def listed(text: str) -> list[str]:
    return text.split() if text else []


@lru_cache(maxsize=4096)
def _networks(text: str) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry) for entry in text.split())


def allows(text: str, address: str) -> bool:
    """True when ``address`` is in one of the stored ranges (an empty text allows any)."""
    if not text:
        return True
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:192.0.2.7 is 192.0.2.7 (a dual-stack socket's view)
    return any(ip in network for network in _networks(text) if network.version == ip.version)
