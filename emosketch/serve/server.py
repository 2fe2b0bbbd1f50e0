"""How `emosketch serve` puts the app on a socket: uvicorn's h11 protocol with a deadline on each
request, so a client that sends its headers or body a byte at a time (slowloris) is cut off, and a
deadline on each answer's writes, so a client that stops reading (a stream it never reads) is too.

uvicorn closes an idle keep-alive connection after a few seconds, but once a byte has arrived it
waits for the rest of a request for ever, and a response waits for a full socket to drain for ever.
"""

from __future__ import annotations

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

WRITE_STALL_SECONDS = 30.0  # how long an answer may wait for a client that reads nothing before it is cut off


def deadline_protocol(seconds: float, write_stall: float = WRITE_STALL_SECONDS) -> type[H11Protocol]:
    """An H11Protocol that closes a connection whose request (headers and body) has not fully
    arrived `seconds` after the connection opened or the previous response ended; and one whose
    answer has filled the socket's buffers and found no room for `write_stall` seconds (the client
    reads nothing): its stream ends as if the client had gone, and gives its slot back."""

    class DeadlineH11(H11Protocol):
        _deadline = None
        _stall = None

        def pause_writing(self) -> None:
            super().pause_writing()
            if self._stall is None:
                self._stall = self.loop.call_later(write_stall, self._not_reading)

        def resume_writing(self) -> None:
            if self._stall is not None:
                self._stall.cancel()
                self._stall = None
            super().resume_writing()

        def _not_reading(self) -> None:
            self._stall = None
            if self.flow.write_paused:
                self.transport.abort()  # close() would wait to send the full buffer, which is never read

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
            for timer in (self._deadline, self._stall):
                if timer is not None:
                    timer.cancel()
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


def listen(host: str, port: int):
    """A socket listening on host:port, opened before the models load and before the page's address is
    printed, so a port in use or a host that is not there is one line and an exit, never an 'open' that
    points at another program's page."""
    import errno
    import socket

    from ..errors import EmosketchError

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM, 0,
                                                             socket.AI_PASSIVE)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise EmosketchError(f"--host {host}: no such address on this machine ({exc})") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart reuses a port left in TIME_WAIT
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        why = {errno.EADDRINUSE: "another program is using it; stop that one, or give another --port",
               errno.EACCES: "ports under 1024 need root; give --port 8000 or above",
               errno.EADDRNOTAVAIL: "that address is not this machine's; give --host 0.0.0.0 or 127.0.0.1"}
        raise EmosketchError(f"cannot listen on {host}:{port}: {why.get(exc.errno, exc.strerror or exc)}") from None
    sock.set_inheritable(True)
    return sock


SHUTDOWN_SECONDS = 3.0  # after Ctrl-C, open streams (a device that never hangs up) are cut off after this


def config(app, request_seconds: float):
    """uvicorn's settings for the mirror: the deadline protocol, warnings only (uncoloured: the
    terminal guard would show a colour code as text), a shutdown that
    waits SHUTDOWN_SECONDS for open responses, not for ever (a stream never ends by itself), and the
    app named ASGI 3 (uvicorn otherwise guesses from how its __call__ looks, and took a wrapped one,
    as under a mutation tester, for ASGI 2)."""
    import uvicorn

    return uvicorn.Config(app, log_level="warning", use_colors=False, http=deadline_protocol(request_seconds),
                          timeout_graceful_shutdown=SHUTDOWN_SECONDS, interface="asgi3")


def run(app, sock, request_seconds: float) -> None:
    """Serve `app` on the listening socket `sock` (listen) until Ctrl-C, with the allocator's arenas
    capped (limit_arenas). At Ctrl-C the engine's open streams are told to end (Engine.stopping), so the
    shutdown does not wait SHUTDOWN_SECONDS for them and then cut them off with a traceback."""
    import uvicorn

    engine = getattr(getattr(app, "state", None), "engine", None)

    class Server(uvicorn.Server):
        def handle_exit(self, sig, frame) -> None:
            if engine is not None:
                engine.stopping.set()
            super().handle_exit(sig, frame)

    limit_arenas()
    Server(config(app, request_seconds)).run(sockets=[sock])
