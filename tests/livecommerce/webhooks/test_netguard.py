"""The SSRF guard on webhooks: the decision on an address (pure, a table), then a creator
whose webhook points into the server's own network, and deliveries that go to the address
that was checked while keeping the name in Host, SNI and certificate verification. Real
servers, receivers and TLS on 127.0.0.1; nothing is mocked."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import logging
import re
import socket
import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from redis.asyncio import Redis

from livecommerce.webhooks.dispatcher import WebhookDispatcher
from livecommerce.webhooks.netguard import is_public
from livecommerce.webhooks.rules import EventType, new_event, parse_endpoint
from livecommerce.webhooks.store import Attempt, WebhookStore
from tests.conftest import timeout
from tests.helpers import User, add_product, join, open_room, sign_up, start_sale
from tests.livecommerce.conftest import ServerFactory
from tests.receivers import StartReceiver

# The decision ----------------------------------------------------------------------------

REFUSED = [
    "127.0.0.1",  # loopback
    "10.1.2.3",  # RFC 1918
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",  # link-local: the cloud's metadata service
    "100.64.0.1",  # shared address space (carrier-grade NAT)
    "100.127.255.254",
    "::1",
    "fe80::1",
    "fc00::1",  # unique local
    "fec0::1",  # site-local, which is_global lets through
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:10.0.0.5",
    "2002:a00:1::1",  # 6to4 of 10.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "0.0.0.0",  # unspecified
    "::",
    "224.0.0.1",  # multicast, which is_global lets through
    "ff0e::1",
    "255.255.255.255",
    "240.0.0.1",  # reserved
    "198.18.0.1",  # benchmarking
    "192.0.2.1",  # documentation
    "2001:db8::1",
]
ALLOWED = [
    "8.8.8.8",
    "2606:4700:4700::1111",
    "1.1.1.1",
    "100.128.0.1",  # just past the shared address space
    "172.32.0.1",  # just past 172.16.0.0/12
    "::ffff:8.8.8.8",  # mapped, judged by what it carries
    "64:ff9b::808:808",  # NAT64 of 8.8.8.8, what DNS64 answers on an IPv6-only host
    "2002:808:808::1",  # 6to4 of 8.8.8.8
]


@pytest.mark.parametrize("address", REFUSED)
def test_addresses_that_are_not_public_are_refused(address: str) -> None:
    assert not is_public(address)
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_are_allowed(address: str) -> None:
    assert is_public(address)
    assert is_public(ipaddress.ip_address(address))


# A creator aims at the server's network ---------------------------------------------------


async def delivery_log(http: httpx.AsyncClient, user: User, count: int) -> list[dict[str, Any]]:
    """The creator's delivery log once it has ``count`` attempts."""
    async with asyncio.timeout(timeout(5)):
        while True:
            answer = await http.get("/api/v1/webhooks/deliveries", headers=user.headers)
            log: list[dict[str, Any]] = answer.json()["deliveries"]
            if len(log) >= count:
                return log
            await asyncio.sleep(0.02)


async def test_a_webhook_into_the_servers_network_is_refused_logged_and_not_retried(
    start_server: ServerFactory, start_receiver: StartReceiver
) -> None:
    server = await start_server(allow_private_webhooks=False)
    receiver = await start_receiver(name="localhost")
    async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as http:
        ada = await sign_up(http, "Ada")
        # Saying where webhooks go is allowed; sending them there is not.
        added = await http.post("/api/v1/webhooks", json={"url": receiver.url}, headers=ada.headers)
        assert added.status_code == 201, added.text
        room = await open_room(http, ada)
        product = await add_product(http, ada)
        hosting = await join(server.ws_url, room["id"], ada)
        await start_sale(hosting, product["id"])
        [attempt] = await delivery_log(http, ada, 1)
        shown = (await http.get("/api/v1/webhooks/deliveries", headers=ada.headers)).text

    assert attempt["event_type"] == "sale.started"
    assert attempt["url"] == receiver.url
    # The creator learns that the name points inside, never where: no resolved address.
    assert attempt["error"] == "destination is not a public address"
    assert not LEAKED.search(shown), shown
    assert (attempt["attempt"], attempt["status"], attempt["outcome"]) == (1, None, "gave_up")
    assert attempt["next_at"] is None
    assert receiver.requests == []
    assert server.webhook_store is not None
    assert await server.webhook_store.pending() == 0  # nothing left to try again


# Deliveries go to the checked address, under their own name ---------------------------------


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[WebhookStore]:
    client = Redis.from_url(redis_url)
    yield WebhookStore(client)
    await client.aclose()


async def deliver_once(
    store: WebhookStore, http: httpx.AsyncClient, url: str, *, allow_private: bool
) -> Attempt:
    """Send one event to ``url`` through a dispatcher; the attempt it logged."""
    now_ms = int(time.time() * 1000)
    endpoint = parse_endpoint({"url": url}, endpoint_id="we_1", now_ms=now_ms)
    await store.add_endpoint("creator1", endpoint)
    event = new_event(EventType.ORDER_CREATED, {"order_id": "ord_1"}, now_ms=now_ms)
    await store.enqueue("creator1", event, now_ms)
    dispatcher = WebhookDispatcher(store, http, allow_private=allow_private)
    assert await dispatcher.run_once() == 1
    [attempt] = await store.delivery_log("creator1")
    return attempt


async def test_a_name_is_judged_by_the_addresses_it_resolves_to(
    start_receiver: StartReceiver, store: WebhookStore
) -> None:
    receiver = await start_receiver(name="localhost")
    async with httpx.AsyncClient() as http:
        attempt = await deliver_once(store, http, receiver.url, allow_private=False)
    assert attempt.error == "destination is not a public address"
    assert (attempt.status, attempt.outcome, attempt.next_at) == (None, "gave_up", None)
    assert receiver.requests == []
    assert await store.pending() == 0


# A resolved address (the loopback's here) in any of its spellings.
LEAKED = re.compile(r"127\.0\.0\.1|(?<![\w:])::1(?![\w:])|::ffff:")


async def test_no_log_names_the_address_a_refused_name_resolved_to(
    start_receiver: StartReceiver, store: WebhookStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    receiver = await start_receiver(name="localhost")
    async with httpx.AsyncClient() as http:
        attempt = await deliver_once(store, http, receiver.url, allow_private=False)
    assert attempt.outcome == "gave_up"
    assert not LEAKED.search(attempt.error)
    logged = [f"{r.getMessage()} {r.__dict__}" for r in caplog.records]
    assert not [line for line in logged if LEAKED.search(line)]


async def test_a_receiver_that_takes_no_connection_is_logged_without_its_address(
    store: WebhookStore,
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    async with httpx.AsyncClient() as http:
        attempt = await deliver_once(
            store, http, f"http://localhost:{port}/hook", allow_private=True
        )
    assert attempt.outcome == "retrying"
    assert attempt.error == "ConnectError: could not connect"


async def test_a_name_that_does_not_resolve_says_so(store: WebhookStore) -> None:
    async with httpx.AsyncClient() as http:
        attempt = await deliver_once(
            store, http, "http://nothing-here.invalid/hook", allow_private=False
        )
    assert (attempt.outcome, attempt.error) == ("retrying", "the host name does not resolve")


async def test_with_the_guard_off_the_name_stays_in_the_host_header(
    start_receiver: StartReceiver, store: WebhookStore
) -> None:
    receiver = await start_receiver(name="localhost")
    async with httpx.AsyncClient() as http:
        attempt = await deliver_once(store, http, receiver.url, allow_private=True)
    assert (attempt.status, attempt.outcome, attempt.error) == (200, "delivered", "")
    [request] = receiver.requests
    assert request.headers["host"] == receiver.url.split("/")[2]  # localhost:<port>


def certificate_for_localhost(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA, and a certificate it signed for the name localhost and no address:
    (CA, certificate, key) as PEM files. Verifying it against 127.0.0.1 would fail."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "livecommerce test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = directory / "ca.pem", directory / "localhost.pem", directory / "localhost.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


async def test_https_to_the_checked_address_verifies_the_certificate_of_the_name(
    start_receiver: StartReceiver, store: WebhookStore, tmp_path: Path
) -> None:
    ca, certificate, key = certificate_for_localhost(tmp_path)
    receiver = await start_receiver(name="localhost", tls=(certificate, key))
    assert receiver.url.startswith("https://localhost:")
    trust = ssl.create_default_context(cafile=str(ca))
    async with httpx.AsyncClient(verify=trust) as http:
        attempt = await deliver_once(store, http, receiver.url, allow_private=True)
    assert (attempt.status, attempt.outcome, attempt.error) == (200, "delivered", "")
    [request] = receiver.requests
    assert request.headers["host"] == receiver.url.split("/")[2]
    # Connections are pooled by address, so none is kept for a request to another name.
    assert request.headers["connection"] == "close"
