"""The webhook dispatcher: sends due deliveries, logs every attempt, reschedules failures.

Any number of processes may run one against the same Redis. Each claims due deliveries in
one atomic step (``webhook_claim.lua``), which leases them for ``lease_s``, so two
dispatchers never send the same delivery at once; one that dies mid-attempt leaves the
lease to run out, and another sends the delivery again. Delivery is therefore at least
once, and receivers dedupe on the event id.

A dispatcher wakes when the earliest queued delivery is due, at the latest every
``poll_s``, and at once when ``nudge()`` is called (``enqueue`` here does that), so an
event enqueued by this process goes out without waiting for the next poll.

Before each attempt the dispatcher resolves the endpoint's host itself and, unless
``allow_private``, refuses the attempt when any address is not public (``netguard.py`` says
why); a refused attempt is logged and given up at once, since trying again would not help.
The request then goes to the address that was checked, never to a fresh resolution.

The delivery log is the creator's to read, so an attempt's error never names an address
the server resolved or dialled: a refusal says only that the destination is not public, a
failure only what kind it was (``_failure``). Otherwise a creator could map the operator's
internal network by aiming webhooks at names and reading the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import random as random_module
import socket
import ssl
import time
from collections.abc import Callable
from typing import Any

import httpx

from livecommerce.errors import LiveCommerceError, Unavailable
from livecommerce.runtime.ids import Ids
from livecommerce.webhooks.netguard import is_public
from livecommerce.webhooks.rules import (
    SIGNATURE_HEADER,
    RetrySchedule,
    WebhookEvent,
    new_event,
    sign,
)
from livecommerce.webhooks.store import Attempt, Delivery, WebhookStore

log = logging.getLogger("livecommerce.webhooks")

USER_AGENT = "livecommerce-webhooks/1"


REFUSED = "destination is not a public address"


class _Refused(Exception):
    """The endpoint's host resolves to an address webhooks may not be sent to."""


def _failure(exc: BaseException) -> str:
    """What the delivery log says about a failed attempt: the kind of failure, no address.

    Exception texts are not passed on: the socket layer's name the address it dialled
    (``Connect call failed ('10.0.0.5', 80)``), which the creator may not learn.
    """
    link: BaseException | None = exc
    for _ in range(8):  # httpx wraps httpcore, which wraps the socket's or TLS's error
        if link is None:
            break
        if isinstance(link, socket.gaierror):
            return "the host name does not resolve"
        if isinstance(link, ssl.SSLCertVerificationError):
            return f"TLS: {link.verify_message or 'the certificate is not valid'}"
        if isinstance(link, ssl.SSLError):
            return f"TLS: {link.reason or 'the handshake failed'}"
        link = link.__cause__ or link.__context__
    return f"{type(exc).__name__}: {_KINDS.get(type(exc), 'failed')}"


_KINDS: dict[type[BaseException], str] = {
    httpx.ConnectError: "could not connect",
    httpx.RemoteProtocolError: "the receiver broke the HTTP protocol",
    httpx.ReadError: "the connection was lost",
    httpx.WriteError: "the connection was lost",
    httpx.InvalidURL: "the URL is not valid",
    ConnectionRefusedError: "could not connect",
}


class WebhookDispatcher:
    def __init__(
        self,
        store: WebhookStore,
        http: httpx.AsyncClient,
        *,
        clock: Callable[[], float] = time.time,
        schedule: RetrySchedule | None = None,
        random: Callable[[], float] = random_module.random,
        poll_s: float = 1.0,
        lease_s: float = 60.0,
        timeout_s: float = 5.0,
        batch: int = 32,
        on_attempt: Callable[[Attempt], None] | None = None,
        allow_private: bool = False,
        ids: Ids | None = None,
    ) -> None:
        if lease_s <= timeout_s:
            raise ValueError("the lease must outlast an attempt's timeout")
        self.store = store
        self.http = http
        self.clock = clock
        self.schedule = schedule or RetrySchedule()
        self.random = random
        self.poll_s = poll_s
        self.lease_s = lease_s
        self.timeout_s = timeout_s
        self.batch = batch
        self.on_attempt = on_attempt
        self.allow_private = allow_private
        self.ids = ids or Ids()
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    # Life ------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="webhooks")

    async def stop(self) -> None:
        """Stop claiming; attempts under way finish (each within ``timeout_s``)."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            task, self._task = self._task, None
            await task

    def nudge(self) -> None:
        """Look at the due set now rather than at the next poll."""
        self._wake.set()

    async def enqueue(self, creator_id: str, event: WebhookEvent) -> list[str]:
        """Queue ``event`` for each of the creator's endpoints that wants it; the ids."""
        ids = await self.store.enqueue(creator_id, event, self._now_ms())
        if ids:
            self.nudge()
        return ids

    async def notify(self, creator_id: str, kind: str, data: dict[str, Any]) -> None:
        """Queue a ``kind`` event for the creator; never fails its caller, whose order or
        sale has happened whether or not the merchant can be told (a warning says so)."""
        try:
            await self.enqueue(
                creator_id, new_event(kind, data, now_ms=self._now_ms(), ids=self.ids)
            )
        except LiveCommerceError as exc:
            log.warning("webhook %s not queued: %s", kind, exc.code)

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            claimed = 0
            wait = self.poll_s
            try:
                claimed = await self.run_once()
                if claimed < self.batch:
                    wait = await self._until_next_due()
            except Unavailable as exc:
                log.warning("webhook dispatch paused: %s", exc.message)
            except Exception:  # a bug: the dispatcher must outlive it
                log.exception("webhook dispatch failed; trying again")
            if claimed >= self.batch or self._stopping:
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()

    async def _until_next_due(self) -> float:
        due = await self.store.next_due_ms()
        if due is None:
            return self.poll_s
        return min(self.poll_s, max(0.0, (due - self._now_ms()) / 1000))

    # Work ------------------------------------------------------------------------------

    async def run_once(self) -> int:
        """Claim what is due now and send it all; how many deliveries were claimed."""
        ids = await self.store.claim(self._now_ms(), int(self.lease_s * 1000), self.batch)
        if ids:
            results = await asyncio.gather(*(self._deliver(i) for i in ids), return_exceptions=True)
            for delivery_id, result in zip(ids, results, strict=True):
                if isinstance(result, BaseException):
                    # Left leased: it is tried again when the lease runs out.
                    log.error(
                        "webhook delivery failed to run",
                        exc_info=result,
                        extra={"delivery_id": delivery_id},
                    )
        return len(ids)

    async def _deliver(self, delivery_id: str) -> None:
        delivery = await self.store.delivery(delivery_id)
        if delivery is None:
            await self.store.drop(delivery_id)
            return
        endpoint = await self.store.endpoint_for(delivery)
        if endpoint is None:
            log.info(
                "webhook endpoint removed; delivery dropped",
                extra={"delivery_id": delivery.id, "endpoint_id": delivery.endpoint_id},
            )
            await self.store.drop(delivery_id)
            return
        attempt = await self._post(delivery, endpoint.url, endpoint.secret)
        await self.store.record_attempt(delivery, attempt)
        if attempt.outcome == "gave_up":
            log.warning(
                "webhook delivery given up",
                extra={"delivery_id": delivery.id, "endpoint_id": delivery.endpoint_id},
            )
        if self.on_attempt is not None:
            self.on_attempt(attempt)

    async def _post(self, delivery: Delivery, url: str, secret: str) -> Attempt:
        number = delivery.attempts + 1
        at = self.clock()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            SIGNATURE_HEADER: sign(secret, delivery.body, now=at),
            "Livecommerce-Event-Id": delivery.event_id,
            "Livecommerce-Delivery-Id": delivery.id,
            "Livecommerce-Attempt": str(number),
        }
        loop = asyncio.get_running_loop()
        started = loop.time()
        status: int | None = None
        error = ""
        refused = False
        try:
            # httpx's timeout bounds each phase; this bounds the whole attempt, so a
            # receiver that trickles its answer cannot hold the lease.
            async with asyncio.timeout(self.timeout_s):
                status = await self._send(url, delivery.body, headers)
        except _Refused:
            error = REFUSED
            refused = True
        except (TimeoutError, httpx.TimeoutException):
            error = f"timeout after {self.timeout_s:g} s"
        except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
            error = _failure(exc)
        duration_ms = round((loop.time() - started) * 1000)
        delivered = status is not None and 200 <= status < 300
        next_at: int | None = None
        if delivered:
            outcome = "delivered"
        elif refused:
            outcome = "gave_up"  # the address is the creator's choice; it will not change
        else:
            delay = self.schedule.next_delay(number, self.random)
            if delay is None:
                outcome = "gave_up"
            else:
                outcome = "retrying"
                next_at = self._now_ms() + round(delay * 1000)
        return Attempt(
            delivery_id=delivery.id,
            event_id=delivery.event_id,
            event_type=delivery.event_type,
            endpoint_id=delivery.endpoint_id,
            url=url,
            attempt=number,
            status=status,
            error=error,
            duration_ms=duration_ms,
            at=int(at * 1000),
            outcome=outcome,
            next_at=next_at,
        )

    async def _send(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """POST ``body`` to ``url`` at an address checked now; the status of the answer.

        The request goes to the address that was checked, never to a second resolution of
        the name, which is what stops DNS rebinding (a first answer that is public, a second
        that is not). When an address takes no connection, the next one is tried, as
        httpx would have done with the name.
        """
        target = httpx.URL(url)
        *others, last = await self._addresses(target)
        for address in others:
            with contextlib.suppress(httpx.ConnectError):
                return await self._send_to(target, address, body, headers)
        return await self._send_to(target, last, body, headers)

    async def _addresses(self, target: httpx.URL) -> list[str]:
        """The addresses of the URL's host, or ``_Refused`` if any is not public."""
        host = target.raw_host.decode("ascii")
        port = target.port or (443 if target.scheme == "https" else 80)
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))
        if not addresses:
            raise socket.gaierror(socket.EAI_NONAME, "no address")
        if not self.allow_private:
            for address in addresses:
                if not is_public(address):
                    raise _Refused(REFUSED)
        return [str(address) for address in addresses]

    async def _send_to(
        self, target: httpx.URL, address: str, body: bytes, headers: dict[str, str]
    ) -> int:
        host = target.raw_host.decode("ascii")
        headers = {**headers, "Host": target.netloc.decode("ascii")}
        extensions: dict[str, Any] = {}
        if target.scheme == "https" and address != host:
            # TLS SNI and certificate verification use the name, not the address.
            extensions["sni_hostname"] = host
            # httpx pools connections by the address it dialled, not by name, so a
            # connection verified for one name could carry a request for another name at
            # the same address (another creator's receiver); one connection per attempt.
            headers["Connection"] = "close"
        async with self.http.stream(
            "POST",
            target.copy_with(host=address),
            content=body,
            headers=headers,
            timeout=self.timeout_s,
            follow_redirects=False,
            extensions=extensions,
        ) as response:
            return response.status_code  # the body is never read
