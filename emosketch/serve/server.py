"""How `emosketch serve` puts the app on a socket: uvicorn's h11 protocol with a deadline on each
request, so a client that sends its headers or body a byte at a time (slowloris) is cut off.

uvicorn closes an idle keep-alive connection after a few seconds, but once a byte has arrived it
waits for the rest of a request for ever.
"""

from __future__ import annotations

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


def deadline_protocol(seconds: float) -> type[H11Protocol]:
    """An H11Protocol that closes a connection whose request (headers and body) has not fully
    arrived `seconds` after the connection opened or the previous response ended."""

    class DeadlineH11(H11Protocol):
        _deadline = None

        def _arm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            self._deadline = self.loop.call_later(seconds, self._too_slow)

        def _too_slow(self) -> None:
            # IDLE: the headers are not complete; SEND_BODY: the body is not. A request being
            # answered (their side DONE) is never cut off, so a long stream plays on.
            if self.conn.their_state in (h11.IDLE, h11.SEND_BODY) and not self.transport.is_closing():
                self.transport.close()

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._arm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm()

        def connection_lost(self, exc) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            super().connection_lost(exc)

    return DeadlineH11


def limit_arenas(count: int = 2) -> bool:
    """Cap glibc's malloc at `count` arenas. Requests run on a thread pool, and glibc keeps the memory
    each thread freed in an arena of its own, so 6 large decodes at once left 561 MB held after them
    (docs/reliability.md). True where it applied (glibc); elsewhere nothing changes."""
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    m_arena_max = -8  # <malloc.h>
    return bool(mallopt(m_arena_max, count))


def run(app, host: str, port: int, request_seconds: float) -> None:
    """Serve `app` on host:port until Ctrl-C, with the allocator's arenas capped (limit_arenas)."""
    import uvicorn

    limit_arenas()
    uvicorn.run(app, host=host, port=port, log_level="warning", http=deadline_protocol(request_seconds))
