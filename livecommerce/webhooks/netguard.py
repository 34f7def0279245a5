"""Which addresses the server may send a webhook to: public ones only.

A creator chooses where their webhooks go, and the server, sitting inside the operator's
network, makes the request. Left unchecked, a creator could aim a webhook at 127.0.0.1, at a
database on 10.0.0.5 or at the cloud's metadata service on 169.254.169.254 and have the server
knock on those doors for them (server-side request forgery); the delivery log, which shows the
status and timing of every attempt, would even tell them what answered.

Pure: this module judges an address and does no I/O. The dispatcher resolves the host, asks
``is_public`` about every address it got, and then connects to the very address judged here
rather than resolving again, so a DNS answer that changes between the check and the connect
(DNS rebinding) cannot slip a private address past the check.

``ipaddress`` knows the registries; ``is_global`` alone is too generous in places (multicast
and IPv6 site-local count as global, and its answers moved between Python releases), so the
ranges that matter are also checked by name. An IPv6 address that carries an IPv4 one
(IPv4-mapped, 6to4, the NAT64 well-known prefix) is judged by the IPv4 address it carries,
which is where the packets end up.
"""

from __future__ import annotations

import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# RFC 6598, carrier-grade NAT: not private in RFC 1918's sense, but not the Internet either.
SHARED_ADDRESS_SPACE = ipaddress.IPv4Network("100.64.0.0/10")
# RFC 6052: a DNS64 resolver on an IPv6-only host answers with these for IPv4-only names.
NAT64_PREFIX = ipaddress.IPv6Network("64:ff9b::/96")


def is_public(address: IPAddress | str) -> bool:
    """Whether a webhook may be sent to ``address``: globally routable, nothing local."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address):
        carried = _carried_ipv4(ip)
        if carried is not None:
            return is_public(carried)
        if ip.is_site_local:  # fec0::/10, deprecated but still routed by some stacks
            return False
    elif ip in SHARED_ADDRESS_SPACE:
        return False
    return ip.is_global and not (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def _carried_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in NAT64_PREFIX:
        return ipaddress.IPv4Address(ip.packed[-4:])
    return None
