"""The web app of `emosketch serve`: the page and a JSON API over one Engine (Starlette, ASGI).

Every answer to a bad request is JSON, {"error": "..."}, with a 4xx status; an unexpected failure
is a 500 with a message, and the server goes on. No path from a client reaches the filesystem: the
page's three files are read once from the package and served from memory.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import ipaddress
import json
import logging
import math
from importlib import resources

import numpy as np
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ..errors import EmosketchError, shown
from ..export.pixels import pixel_format
from .engine import Engine, RequestError, ServeConfig

COOKIE = "emosketch_session"
FORM_OVERHEAD = 16 * 1024  # a multipart body may pass the upload limit by this much (boundaries, headers)
FORM_PARTS = 16  # a multipart form of more parts is refused before it is parsed
FORM_PART_HEADERS = 8 * 1024  # and one whose part has longer headers
JSON_INT_DIGITS = 20  # longer whole numbers in a JSON body are refused as it is parsed
IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/bmp", "image/gif", "image/tiff")
TYPE_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "image/x-png": "image/png",
                "image/x-ms-bmp": "image/bmp", "image/tif": "image/tiff"}  # common mislabels: the bytes decide anyway
STATIC = {  # URL -> (file in emosketch/serve/static, content type)
    "/": ("index.html", "text/html; charset=utf-8"),
    "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/static/style.css": ("style.css", "text/css; charset=utf-8"),
}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
                               "style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _bounded(message: str, limit: int = 400) -> str:
    """A message that quotes what a client sent, cut to `limit` characters: a 60 KB format came back whole."""
    return message if len(message) <= limit else message[:limit] + " [...]"


def _error(message: str, status: int) -> JSONResponse:
    headers = dict(SECURITY_HEADERS)  # as every answer
    if status == 429:  # busy, not wrong: a program can wait and ask again (a search or a pack takes seconds)
        headers["Retry-After"] = "2"
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _panel_bytes(data: bytes, bits: np.ndarray, fmt: str) -> Response:
    """A panel's bytes in a pixel format, with its size and format in headers (/api/render, /api/frame)."""
    name = pixel_format(fmt).name  # the format's own name: "gfx " or an alias would break or blur the header
    return Response(data, media_type="application/octet-stream", headers={
        "X-Panel-Width": str(bits.shape[1]), "X-Panel-Height": str(bits.shape[0]), "X-Pixel-Format": name})


def _flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "").lower() in ("1", "true", "yes", "on")


async def _body(request: Request, limit: int, said: int | None = None) -> bytes:
    """The request body, refused with 413 as soon as it passes `limit` bytes (the message names
    `said`, the limit the client knows, when the body may carry some overhead)."""
    said = limit if said is None else said
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise RequestError("a bad Content-Length header")
        if int(declared) > limit:
            raise RequestError(f"the upload is larger than {said:,} bytes", 413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(f"the upload is larger than {said:,} bytes", 413)
        chunks.append(chunk)
    return b"".join(chunks)


async def _json(request: Request) -> dict:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise RequestError("send JSON (Content-Type: application/json)", 415)
    try:
        body = json.loads(await _body(request, 64 * 1024) or b"{}", parse_int=_json_int, parse_constant=_json_constant)
    except RecursionError:
        raise RequestError("the JSON body is nested too deeply") from None
    except RequestError:
        raise
    except (ValueError, UnicodeDecodeError):
        raise RequestError("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise RequestError("the body must be a JSON object")
    return body


def _param(header: str, value: str, name: str) -> str | None:
    """One parameter of a header value (Content-Type's boundary, Content-Disposition's name), read as the
    email package reads it: `xboundary=zz; boundary=out` has the boundary out, not zz."""
    from email.message import Message

    m = Message()
    m[header] = value
    v = m.get_param(name, header=header)
    return v if isinstance(v, str) else None


def _form_file(content_type: str, body: bytes, limit: int) -> bytes:
    """The uploaded file of a multipart/form-data body: the part named "file", or else the only part that
    carries a file name; held to the same byte limit as a raw upload. The form is split here, one level
    deep and into at most FORM_PARTS parts, each with at most FORM_PART_HEADERS bytes of headers: the email
    parser had recursed into a nested multipart part of a million parts (103 s), and a boundary found in
    another parameter had let 20,000 parts through the count."""
    if len(content_type) > 1024:
        raise RequestError("the Content-Type header is longer than 1,024 characters")
    boundary = _param("content-type", content_type, "boundary")
    if not boundary or len(boundary) > 70:
        raise RequestError("the multipart form could not be read (no boundary of 1 to 70 characters)")
    delimiter = b"\r\n--" + boundary.encode("latin-1", "replace")
    parts = []
    for piece in (b"\r\n" + body).split(delimiter, FORM_PARTS + 2)[1:]:  # [0]: the preamble
        if piece.startswith(b"--"):  # the closing delimiter: what follows is the epilogue
            break
        if len(parts) == FORM_PARTS:
            raise RequestError(f"the multipart form has more than {FORM_PARTS} parts")
        head, sep, content = piece.partition(b"\r\n\r\n")
        if not sep or len(head) > FORM_PART_HEADERS:
            raise RequestError(f"a part of the multipart form has no end to its headers within "
                               f"{FORM_PART_HEADERS:,} bytes")
        fields = {}
        for line in head.decode("latin-1").split("\r\n")[1:]:  # the first is the rest of the delimiter line
            key, colon, value = line.partition(":")
            if colon:
                fields[key.strip().lower()] = value.strip()
        kind = fields.get("content-type", "").split(";")[0].strip().lower()
        if kind.startswith(("multipart/", "message/")):
            raise RequestError("a part of the multipart form is a form or message itself; send the image as it is")
        disposition = fields.get("content-disposition", "")
        parts.append((_param("content-disposition", disposition, "name") if disposition else None,
                      _param("content-disposition", disposition, "filename") if disposition else None,
                      fields.get("content-transfer-encoding", "").lower(), content))
    files = [p for p in parts if p[0] == "file"] or [p for p in parts if p[1] is not None]
    if len(files) != 1:
        raise RequestError('send one image in the form, as the field "file" (curl -F file=@face.jpg)')
    _, _, encoding, data = files[0]
    if encoding == "base64":
        try:
            data = base64.b64decode(data, validate=False)
        except ValueError:
            raise RequestError("the form's file is not valid base64") from None
    if len(data) > limit:
        raise RequestError(f"the upload is larger than {limit:,} bytes", 413)
    return data


def _json_int(text: str) -> int:
    # every whole number of the API is small; a 400-digit one would overflow float() later
    if len(text.lstrip("-")) > JSON_INT_DIGITS:
        raise RequestError(f"a JSON number of more than {JSON_INT_DIGITS} digits")
    return int(text)


def _json_constant(name: str) -> float:
    raise RequestError(f"{name} is not a number the API takes")


def _number(body: dict, key: str, default: float) -> float:
    v = body.get(key, default)
    # math, not numpy: np.isfinite fails (a 500) on a whole number past int64, 19 or 20 digits
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise RequestError(f'"{key}" must be a number, got {shown(v, 24)}')
    return float(v)


def _whole(body: dict, key: str, default: int, low: int, high: int) -> int:
    """A whole number from low to high: 1.9 is refused, not rounded down."""
    v = _number(body, key, default)
    if v != int(v) or not low <= v <= high:
        raise RequestError(f'"{key}": a whole number from {low} to {high}, got {shown(body.get(key, default), 24)}')
    return int(v)


class _Api:
    """The page and the API's handlers over one Engine: each takes a request and answers it, or raises a
    RequestError (create_app's `guarded` turns every failure into a JSON answer)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.pages = {url: (resources.files(__package__).joinpath("static", name).read_bytes(), kind)
                      for url, (name, kind) in STATIC.items()}

    def session_of(self, request: Request):
        address = request.client.host if request.client else None
        if "session" in request.query_params:  # a program's or a device's token: one it was given, or none at all
            token = request.query_params["session"]
            found = self.engine.session(token, create=False, address=address)
            if found is None:  # had been a new, empty session: the program drew the demo face and never knew
                raise RequestError(f"no session {shown(token, 40)} (sessions live in memory: the server restarted, "
                                   "or forgot it for a newer one); GET /api/info without ?session= starts one and "
                                   "gives its token", 404)
            return found
        return self.engine.session(request.cookies.get(COOKIE), address=address)  # a browser: a new cookie if need be

    def answer(self, response: Response, session, request: Request) -> Response:
        # a ?session= token (the device's) never becomes the browser's cookie: a link with someone else's
        # token would put the visitor's camera into that session (session fixation)
        if "session" not in request.query_params:
            response.set_cookie(COOKIE, session.token, httponly=True, samesite="strict")
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        return response

    async def page(self, request: Request) -> Response:
        body, kind = self.pages[request.url.path]
        s = self.session_of(request)
        return self.answer(Response(body, media_type=kind, headers={"Cache-Control": "no-cache"}), s, request)

    async def info(self, request: Request) -> Response:
        s = self.session_of(request)
        return self.answer(JSONResponse(self.engine.info() | {"session": s.token}), s, request)

    @contextlib.asynccontextmanager
    async def upload_place(self, address: str | None):
        """A place to read and hold an upload (Engine.take_upload), waited for with the body still unread, so
        that uploads past the caps hold a connection, not their bytes; a 429 after upload_wait_seconds."""
        loop = asyncio.get_running_loop()
        until = loop.time() + self.engine.config.upload_wait_seconds
        while (why := self.engine.take_upload(address)) is not None:
            if loop.time() >= until:
                raise RequestError(f"{why}; send the next when one is answered", 429)
            await asyncio.sleep(0.05)
        try:
            yield
        finally:
            self.engine.give_upload(address)

    async def classify(self, request: Request) -> Response:
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        kind = TYPE_ALIASES.get(kind, kind)
        if kind not in IMAGE_TYPES and kind != "multipart/form-data":
            raise RequestError(f"send the image itself as the body, with an image Content-Type "
                               f"({', '.join(IMAGE_TYPES)}), or as a multipart form's file; got {kind or 'none'}", 415)
        # the body is held until it is decoded: max_uploads of them at once, so memory stays bounded
        async with self.upload_place(request.client.host if request.client else None):
            if kind == "multipart/form-data":  # curl -F file=@face.jpg, an HTML form
                limit = self.engine.config.max_upload_bytes
                body = await _body(request, limit + FORM_OVERHEAD, limit)
                data = await run_in_threadpool(_form_file, request.headers["content-type"], body, limit)
                del body
            else:
                data = await _body(request, self.engine.config.max_upload_bytes)
            s = self.session_of(request)
            result = await run_in_threadpool(self.engine.classify, s, data, _flag(request, "stimulate"),
                                             _flag(request, "face"), _flag(request, "found"))
        return self.answer(JSONResponse(result), s, request)

    async def render(self, request: Request) -> Response:
        body = await _json(request)
        s = self.session_of(request)
        fmt = str(body.get("format", "png"))
        size = str(body.get("size", "128x64"))
        use_agent = body.get("agent") is True
        weights = None if use_agent else self.engine.weights_from(body)
        zoom = None if use_agent and "zoom" not in body else _number(body, "zoom", 1.0)
        if zoom is not None and not 0.5 <= zoom <= 4:
            raise RequestError(f'"zoom" {zoom}: from 0.5 to 4')
        scale = _whole(body, "scale", 1, 1, 8)
        if fmt == "sketch":  # the generator's own sketch, before the panel's layout and 1 bit
            sketch = await run_in_threadpool(self.engine.sketch_now, s, weights)
            png = await run_in_threadpool(_png, sketch, scale)  # a 4096 px PNG's encode holds no one else up
            return self.answer(Response(png, media_type="image/png"), s, request)
        bits = await run_in_threadpool(self.engine.bits, s, weights, zoom, size)
        if fmt == "png":
            png = await run_in_threadpool(_png, np.where(bits, 255, 0).astype(np.uint8), scale)
            return self.answer(Response(png, media_type="image/png"), s, request)
        return self.answer(_panel_bytes(self.engine.encode(bits, fmt), bits, fmt), s, request)

    async def agent(self, request: Request) -> Response:
        s = self.session_of(request)
        return self.answer(JSONResponse(self.engine.agent_state(s)), s, request)

    async def stimulate(self, request: Request) -> Response:
        body = await _json(request)
        s = self.session_of(request)
        channel, emotion = body.get("channel"), body.get("emotion")
        if (channel is None) == (emotion is None):
            raise RequestError('give "channel" (joy, mad, ...) or "emotion" (happy, anger, ...), one of the two')
        if not isinstance(channel if emotion is None else emotion, str):
            raise RequestError('"channel" must be a channel name' if emotion is None else '"emotion" must be a name')
        amount = _number(body, "amount", 0.8)
        state = self.engine.stimulate(s, channel, amount) if emotion is None else self.engine.feel(s, emotion, amount)
        return self.answer(JSONResponse(state), s, request)

    async def frame(self, request: Request) -> Response:
        s = self.session_of(request)
        fmt = request.query_params.get("format", "ssd1306")
        data, bits, _ = await run_in_threadpool(self.engine.frame, s, fmt)
        return self.answer(_panel_bytes(data, bits, fmt), s, request)

    async def smile(self, request: Request) -> Response:
        """Make it smile: POST {"target": "happy", "steps": 20} -> the search's path as panel frames."""
        body = await _json(request)
        s = self.session_of(request)
        target = body.get("target", "happy")
        if not isinstance(target, str):
            raise RequestError('"target" must be an emotion name')
        steps = _whole(body, "steps", 20, 0, 60)  # checked here: a 20-digit number came back changed in the message
        fmt = str(body.get("format", "gfx"))
        self.engine.encode(np.zeros((64, 128), bool), fmt)  # a bad format is refused before the search runs
        out = await run_in_threadpool(self.engine.search, s, target, steps)
        bits = out.pop("bits")
        out |= {"format": fmt, "width": int(bits.shape[2]), "height": int(bits.shape[1]),
                "frames": [base64.b64encode(self.engine.encode(b, fmt)).decode("ascii") for b in bits]}
        return self.answer(JSONResponse(out), s, request)

    async def pack(self, request: Request) -> Response:
        s = self.session_of(request)
        raw = request.query_params.get("emotions") or ",".join(self.engine.classes)
        emotions = [e.strip() for e in raw.split(",") if e.strip()]
        if len(emotions) > len(self.engine.classes):
            raise RequestError("more emotions than the model has")
        data = await run_in_threadpool(self.engine.pack_zip, s, emotions)
        return self.answer(Response(data, media_type="application/zip",
                               headers={"Content-Disposition": 'attachment; filename="emosketch-pack.zip"'}), s,
                      request)

    async def stream(self, request: Request) -> Response:
        """Server-sent events: one panel frame per event, at `fps`, for `frames` events (0 = until
        the client goes). Each event is JSON: the agent's state and the frame's bytes in base64."""
        s = self.session_of(request)
        fmt = request.query_params.get("format", "ssd1306")
        self.engine.encode(np.zeros((64, 128), bool), fmt)  # a bad format is a 400 now, not a broken stream
        try:
            fps = float(request.query_params.get("fps", "12"))
            count = int(request.query_params.get("frames", "0"))
        except ValueError:
            raise RequestError("fps must be a number and frames a whole number") from None
        if not 0.5 <= fps <= 30 or count < 0:
            raise RequestError("fps from 0.5 to 30, frames >= 0")
        address = request.client.host if request.client else None
        self.engine.open_stream(s, address)  # counted now: streams asked for at once cannot all pass the caps

        async def events():
            n = 0
            loop = asyncio.get_running_loop()
            next_at = loop.time()
            while (count == 0 or n < count) and not self.engine.stopping.is_set():
                if await request.is_disconnected():
                    break
                data, bits, state = await run_in_threadpool(self.engine.frame, s, fmt)
                event = state | {"n": n, "format": fmt, "width": int(bits.shape[1]), "height": int(bits.shape[0]),
                                 "data": base64.b64encode(data).decode("ascii")}
                yield f"data: {json.dumps(event)}\n\n"
                n += 1
                next_at += 1.0 / fps
                while not self.engine.stopping.is_set() and loop.time() < next_at:  # a slow stream still ends at once
                    await asyncio.sleep(min(0.1, next_at - loop.time()))

        return self.answer(_CountedStream(self.engine, s, address, events(), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}), s, request)


def create_app(config: ServeConfig | None = None, engine: Engine | None = None):
    """The ASGI app; the engine (and so each model) is built once and shared by every request."""
    engine = engine or Engine(config or ServeConfig())
    api = _Api(engine)

    def guarded(handler):
        async def run(request: Request) -> Response:
            if request.method == "HEAD" and request.url.path.startswith("/api/"):  # HEAD /api/pack built a whole
                return _error("HEAD is not served by the API; ask with GET", 405)  # pack, and held its one slot
            try:
                return await handler(request)
            except RequestError as exc:
                return _error(_bounded(str(exc)), exc.status)
            except EmosketchError as exc:
                return _error(_bounded(str(exc)), 400)
            except ClientDisconnect:  # the client hung up mid-body (or the slow-client deadline cut it): no one
                return Response(status_code=400)  # to answer, and nothing went wrong here to log
            except Exception as exc:  # never takes the server down; the log says what failed and where, the answer
                # only that it did (an exception's text can hold the server's paths)
                logging.getLogger("emosketch.serve").exception("%s %s", request.method, request.url.path)
                return _error(f"internal error ({type(exc).__name__}); the server's log has the details", 500)
        return run

    routes = [Route(url, guarded(api.page)) for url in STATIC] + [
        Route("/api/info", guarded(api.info)),
        Route("/api/classify", guarded(api.classify), methods=["POST"]),
        Route("/api/render", guarded(api.render), methods=["POST"]),
        Route("/api/agent", guarded(api.agent)),
        Route("/api/agent/stimulate", guarded(api.stimulate), methods=["POST"]),
        Route("/api/frame", guarded(api.frame)),
        Route("/api/pack", guarded(api.pack)),
        Route("/api/search", guarded(api.smile), methods=["POST"]),
        Route("/api/stream", guarded(api.stream)),
    ]

    async def not_found(request: Request, exc) -> Response:
        status = getattr(exc, "status_code", 404)
        return _error("no such page" if status == 404 else "method not allowed" if status == 405 else str(exc), status)

    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found})
    app.state.engine = engine
    return _HostCheck(app, engine)


def host_allowed(host: str, names: tuple[str, ...]) -> bool:
    """Whether a Host header names this server: an IP address (a rebinding page cannot send one
    that its own DNS name resolves to) or one of `names`, with or without a port."""
    host = host.strip().lower()
    if host.startswith("["):
        name, _, rest = host[1:].partition("]")
        if rest and not (rest.startswith(":") and rest[1:].isdigit()):
            return False
    else:
        name, colon, port = host.partition(":")
        if colon and not port.isdigit():
            return False
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return name.rstrip(".") in {n.lower() for n in names}


def cross_site(headers: dict[bytes, bytes], host: bytes) -> bool:
    """Whether a browser sent the request for a page of another site: its Sec-Fetch-Site says so, or its
    Origin names another host. (A program such as curl or the device script sends neither.) Such a page
    could not read the answers, but could spend the one pack slot or the sessions' room."""
    if headers.get(b"sec-fetch-site", b"").strip().lower() in (b"cross-site", b"same-site"):
        return True
    origin = headers.get(b"origin")
    if origin is None:
        return False
    return origin.strip().lower().split(b"://", 1)[-1].rstrip(b"/") != host.strip().lower()


class _HostCheck:
    """Answers a request whose Host names another server with a 400, before the app sees it: a page
    on a rebound DNS name cannot use the API, and no redirect is built from a foreign Host."""

    def __init__(self, app: Starlette, engine: Engine):
        self.app, self.engine, self.state = app, engine, app.state

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            host = headers.get(b"host")
            if host is not None and not host_allowed(host.decode("latin-1"), self.engine.config.hosts):
                names = ", ".join(self.engine.config.hosts)
                await _error(f"this server answers to IP addresses and {names} only (Host header; start it with "
                             "--allow-host NAME to answer to another name)", 400)(
                    scope, receive, send)
                return
            if scope["path"].startswith("/api/") and cross_site(headers, host or b""):
                await _error("the API answers this server's own page and programs, not a page of another site", 403)(
                    scope, receive, send)
                return
        await self.app(scope, receive, send)


class _CountedStream(StreamingResponse):
    """Gives its stream back to the engine's count when it ends, even if it never started (the client
    went before the first event, when a generator's own finally would never run)."""

    def __init__(self, engine: Engine, session, address: str | None, content, **kw):
        super().__init__(content, **kw)
        self.engine, self.session, self.address = engine, session, address

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.engine.close_stream(self.session, self.address)


def _png(img: np.ndarray, scale: int) -> bytes:
    """A uint8 gray image as PNG, each pixel a scale x scale block."""
    from PIL import Image

    if scale > 1:
        img = np.repeat(np.repeat(img, scale, 0), scale, 1)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "PNG")
    return buf.getvalue()
