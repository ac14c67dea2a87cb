"""Outbound HTTP to loyalty cores, refused on private networks (SSRF).

Checking a target's address when the connection is made is not enough: a DNS
server the attacker controls can answer a public address then and
169.254.169.254 a second later, when the bridge connects (DNS rebinding). So
the rule is applied again where the socket is opened: the host is resolved
once, every address it resolves to is checked, and the socket goes to an
address that was checked. TLS still verifies the certificate against the host
name, which httpcore passes on separately.
"""

from __future__ import annotations

import ipaddress
import socket
import typing

import httpcore
import httpx

PRIVATE_HINT = "set BRIDGE_ALLOW_PRIVATE_TARGETS=1 to allow it"


class PrivateAddressRefused(httpx.ConnectError):
    """The target host resolved to an address the bridge must not reach."""


def is_private(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    return ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_multicast


def public_addresses(host: str, port: int) -> list[str]:
    """Every address `host` resolves to, or PrivateAddressRefused naming the first private one.

    Raises socket.gaierror when the host does not resolve.
    """
    addresses = list(dict.fromkeys(info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)))
    for address in addresses:
        if is_private(address):
            raise PrivateAddressRefused(
                f"target host {host} is on a private network ({address.split('%')[0]}); {PRIVATE_HINT}")
    return addresses


class _CheckedBackend(httpcore.NetworkBackend):
    """Opens TCP connections only to addresses that passed the private-network rule."""

    def __init__(self) -> None:
        self.backend = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: typing.Iterable[typing.Any] | None = None) -> httpcore.NetworkStream:
        try:
            addresses = public_addresses(host, port)
        except socket.gaierror as error:
            raise httpcore.ConnectError(f"target host {host} does not resolve: {error}") from None
        last_error: Exception | None = None
        for address in addresses:
            try:
                return self.backend.connect_tcp(address, port, timeout=timeout, local_address=local_address,
                                                socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                last_error = error
        raise last_error or httpcore.ConnectError(f"target host {host} has no address")

    def connect_unix_socket(self, *args, **kwargs):
        raise httpcore.ConnectError("the bridge does not send to unix sockets")

    def sleep(self, seconds: float) -> None:
        self.backend.sleep(seconds)


class _CheckedTransport(httpx.HTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        # httpx builds its connection pool without a way to pass a network
        # backend, so the pool is rebuilt with the same defaults and ours.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(), max_connections=100, max_keepalive_connections=20,
            keepalive_expiry=5.0, network_backend=_CheckedBackend())


def target_client(timeout: float, allow_private: bool) -> httpx.Client:
    """The HTTP client that posts to loyalty cores: no redirects, private networks refused unless allowed."""
    if allow_private:
        return httpx.Client(timeout=timeout, follow_redirects=False)
    # No proxies from the environment: a proxy would resolve the host itself, unchecked.
    return httpx.Client(timeout=timeout, follow_redirects=False, transport=_CheckedTransport(), trust_env=False)
