"""How ``kb serve`` runs uvicorn: which proxies to believe, and bounds on what a client may send.

uvicorn's httptools protocol accepts request heads of any size and never times out a client that
connects and then sends slowly (its keep-alive timer runs only between requests). The protocol
below adds both bounds: a request line plus headers over ``max_header_bytes`` gets 431, and a
request not fully received ``read_timeout`` seconds after its first byte (or after the connection
opened) gets 408 and the connection is closed."""

from __future__ import annotations

import asyncio
import json

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from service.config import Settings

_END_OF_HEAD = b"\r\n\r\n"


def _refusal(status: int, reason: str, detail: str) -> bytes:
    body = json.dumps({"detail": detail}).encode()
    return (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
            f"connection: close\r\n\r\n").encode() + body


def bounded_protocol(max_header_bytes: int, read_timeout: float) -> type[HttpToolsProtocol]:
    too_large = _refusal(431, "Request Header Fields Too Large",
                         f"request line and headers larger than {max_header_bytes} bytes (KB_MAX_HEADER_BYTES)")
    too_slow = _refusal(408, "Request Timeout", f"request not received within {read_timeout:g} s (KB_READ_TIMEOUT)")

    class BoundedHttpToolsProtocol(HttpToolsProtocol):
        _head_pending = True  # waiting for (the rest of) a request line and headers
        _head_bytes = 0
        _tail = b""  # the last bytes seen, to find an end of head split across two reads
        _timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self._head_pending:
                if self._timer is None:
                    self._arm()
                probe = self._tail + data
                end = probe.find(_END_OF_HEAD)
                self._head_bytes += len(data) if end < 0 else max(0, end + len(_END_OF_HEAD) - len(self._tail))
                self._tail = data[-3:]
                if self._head_bytes > max_header_bytes:
                    self._refuse(too_large)
                    return
            super().data_received(data)

        def on_headers_complete(self) -> None:
            self._head_pending = False
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self._disarm()
            self._head_pending, self._head_bytes, self._tail = True, 0, b""
            super().on_message_complete()

        def _arm(self) -> None:
            self._timer = self.loop.call_later(read_timeout, self._timed_out)

        def _disarm(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        def _timed_out(self) -> None:
            self._timer = None
            if self.transport.is_closing():
                return
            if self._head_pending and self._head_bytes:  # no response under way: say why
                self.transport.write(too_slow)
            self.transport.close()

        def _refuse(self, response: bytes) -> None:
            self._disarm()
            if not self.transport.is_closing():
                self.transport.write(response)
                self.transport.close()

    return BoundedHttpToolsProtocol


def uvicorn_config(app, settings: Settings, host: str, port: int) -> uvicorn.Config:
    """The uvicorn settings ``kb serve`` uses (tests start servers with the same)."""
    return uvicorn.Config(
        app, host=host, port=port, log_level=settings.log_level, access_log=False,
        http=bounded_protocol(settings.max_header_bytes, settings.read_timeout),
        # X-Forwarded-For and X-Forwarded-Proto only from the configured proxies (none by default).
        proxy_headers=bool(settings.trusted_proxies), forwarded_allow_ips=list(settings.trusted_proxies),
        timeout_keep_alive=settings.keep_alive,
    )
