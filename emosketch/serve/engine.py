"""What `emosketch serve` computes, without the web: the models loaded once, and one session per
browser (its agent, its face, its zoom).

    engine = Engine(ServeConfig())
    session = engine.new_session()
    result = engine.classify(session, image_bytes, stimulate=True, use_face=True)
    data, bits, state = engine.frame(session, "ssd1306")   # the panel's bytes for the agent's state now
"""

from __future__ import annotations

import contextlib
import itertools
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..datasets.decode import Skip, decode_bytes, image_size
from ..datasets.face import crop_face_at
from ..datasets.photo import drawn_whole, photo_configs
from ..emotions import canonical
from ..errors import EmosketchError
from ..export.layout import parse_geometry
from ..export.panel import PANEL, Panel, draw, framed
from ..export.pixels import FORMATS, pixel_format
from ..interpolate.agent import CHANNELS, MAX_AMOUNT, SMIRK, Agent, can_smirk, follow_zoom
from ..interpolate.render import Renderer, Source


class RequestError(EmosketchError):
    """A client's mistake: the server answers it with this HTTP status and the message."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ServeConfig:
    checkpoint: str | None = None  # generator; None = the shipped one
    classifier: str | None = None  # face classifier; None = the shipped one
    guide: str | None = None  # sketch classifier that "make it smile" climbs; None = the shipped one
    device: str = "auto"
    max_upload_bytes: int = 8 * 1024 * 1024  # larger request bodies get 413 before they are read in full
    max_pixels: int = 25_000_000  # larger decoded images get 413 (decompression-bomb guard)
    max_side: int = 2048  # an upload is shrunk to this longest side as it is decoded, before the face is found
    decode_slots: int = 2  # uploads decoded at once; more wait (each holds up to max_pixels x 4 bytes)
    max_uploads: int = 8  # uploads read and held at once (each up to max_upload_bytes); more get 429 (128 clients
    # at once had each held its 8 MB body while waiting for a decode slot: 1.5 GB above resting)
    address_uploads: int = 2  # of them from one client address (one client's slow uploads would hold them all)
    upload_wait_seconds: float = 10.0  # an upload past those caps waits this long for a place, unread, then gets 429
    max_sessions: int = 256  # the least recently used session is forgotten beyond this
    max_streams: int = 16  # concurrent frame streams; more get 429
    max_packs: int = 1  # packs built at once (each renders a few hundred frames); more get 429
    max_searches: int = 1  # "make it smile" searches at once (each holds the models about a second); more get 429
    session_streams: int = 4  # streams one session may hold open at once; more get 429
    address_streams: int = 8  # streams one client address may hold open at once (a client that sends no cookie
    # is a new session each time, so the session cap alone let one program take every stream); more get 429
    address_sessions: int = 32  # sessions one client address may hold; past it, that address's own least recently
    # used one is forgotten (one program that came back to its sessions had pushed everyone else's out)
    zoom: float = 0.25  # push-in at full arousal of the agent's dominant channel
    stimulus: float = 0.8  # how strongly a classified emotion stimulates its channel (x its probability)
    cache_frames: int = 2048  # rendered panel frames kept, keyed by face, weights and zoom
    cache_bytes: int = 64 * 1024 * 1024  # and at most this many bytes of them (a 512x512 frame is 262 KB)
    hosts: tuple[str, ...] = ("localhost",)  # Host names served besides IP addresses (a DNS-rebinding guard)
    request_seconds: float = 30.0  # a request's headers and body must arrive within this (slowloris guard)

    def __post_init__(self) -> None:
        if (self.max_upload_bytes < 1024 or self.max_pixels < 64 * 64 or self.max_sessions < 1 or self.max_streams < 1
                or self.max_side < 64 or self.decode_slots < 1 or self.max_packs < 1 or self.max_searches < 1
                or self.session_streams < 1 or self.address_streams < 1 or self.address_sessions < 1
                or self.max_uploads < 1 or self.address_uploads < 1):
            raise EmosketchError("serve: max_upload_bytes >= 1024, max_pixels >= 4096, max_side >= 64, "
                                 "max_sessions, max_streams, max_packs, max_searches, session_streams, "
                                 "address_streams, address_sessions, decode_slots, max_uploads and address_uploads >= 1")
        if not 0 <= self.upload_wait_seconds <= 3600:
            raise EmosketchError("serve: upload_wait_seconds from 0 to 3600")
        if not 0 < self.request_seconds <= 3600:
            raise EmosketchError("serve: request_seconds in (0, 3600]")
        if not 0 <= self.zoom <= 2 or not 0 < self.stimulus <= 1.5:
            raise EmosketchError("serve: zoom from 0 to 2 and stimulus in (0, 1.5]")


@dataclass
class Session:
    token: str
    agent: Agent
    face: Source
    face_id: int  # a new number for every face, so cached frames of an old face are never shown
    panel: Panel  # the panel drawing, framed on this face
    zoom: float = 0.0  # the lagged push-in (1 + zoom is the panel's zoom)
    uses: int = 0  # requests that came back with this session's token: a session no one came back to goes first
    address: str | None = None  # the client address that began it
    streams: int = 0  # its streams open now
    clock: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def advance(self, zoom_amount: float) -> None:
        """Let the agent's time catch up with the wall clock."""
        now = time.monotonic()
        dt = max(0.0, now - self.clock)
        self.clock = now
        if dt > 0:
            self.agent.step(dt)
            self.zoom = follow_zoom(self.zoom, zoom_amount * self.agent.arousal(), dt)

    def state(self) -> dict:
        weights, smirk = self.agent.pose()
        return {"time": round(self.agent.time, 3), "dominant": self.agent.dominant(),
                "levels": {c: round(self.agent.level[c], 4) for c in CHANNELS},
                "weights": {e: round(w, 4) for e, w in weights.items()},
                "smirk": round(smirk, 4),
                "zoom": round(1.0 + self.zoom, 4), "face": self.face.how}


def _image_bytes(data: bytes, config: ServeConfig) -> tuple[np.ndarray, float, tuple[int, int]]:
    """The upload as gray, at most config.max_side a side; the factor back to the upload's pixels; and the
    upload's own (width, height), turned as its EXIF turns it."""
    try:
        gray = decode_bytes(data, max_pixels=config.max_pixels, max_side=config.max_side)
        long, short = sorted(image_size(data), reverse=True)  # a turn per EXIF keeps the longest side
        return gray, long / max(gray.shape), (long, short) if gray.shape[1] >= gray.shape[0] else (short, long)
    except Skip as exc:
        status = 413 if exc.reason == "image too large" else 422 if exc.reason in ("image too small",) else 400
        raise RequestError(f"the image could not be used: {exc}", status) from None


class Engine:
    """The generator, the face classifier and the sessions, shared by every request. Model calls
    are serialised by one lock: on a small CPU, parallel forward passes only fight for the cores."""

    def __init__(self, config: ServeConfig | None = None):
        from ..emotion_cnn import load_classifier, load_sketch_classifier
        from ..models import default_classifier, default_generator, default_sketch_classifier

        self.config = config = config or ServeConfig()
        self.renderer = Renderer(config.checkpoint or default_generator(), config.device)
        self.device = self.renderer.device
        self.classes = self.renderer.classes
        self.classifier, self.classifier_state = load_classifier(config.classifier or default_classifier(), self.device)
        if self.classifier_state["input"] != "face":
            raise EmosketchError(f"{config.classifier}: serve reads camera frames and photos, so its classifier "
                                 "must be trained on faces (emosketch classifier train --input face)")
        face_cfg, _ = photo_configs(self.classifier_state.get("dataset", {}))
        # every camera frame is read: the classifier's crop skips the turned search (up to seven more cascade
        # passes where no face is found); a face the page sends to be drawn gets it (Renderer.source_from_gray)
        self.face_cfg = replace(face_cfg, upright=False)
        self.notes: list[str] = []  # what the operator is told at start (the CLI prints them)
        try:
            self.guide, guide_state = load_sketch_classifier(config.guide or default_sketch_classifier(),
                                                             self.classes, self.device, "the search's guide",
                                                             "the generator's")
            self.guide_size = int(guide_state["image_size"])
        except EmosketchError as exc:  # the shipped guide reads the six FER+ emotions; a model of others gets no search
            if config.guide:
                raise
            self.guide, self.guide_size = None, 0
            self.notes.append(f"\"make it smile\" (/api/search) is off: {exc}; give --guide, a sketch classifier "
                              "trained on this generator's classes (emosketch classifier train --input sketch)")
        self.model_lock = threading.Lock()
        self.sessions: OrderedDict[str, Session] = OrderedDict()
        self.sessions_lock = threading.Lock()
        self.cache: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self.cache_bytes = 0  # of the frames in the cache
        self.face_ids = itertools.count(1)  # a fresh id per face; next() on a count is atomic across threads
        self.decode_slots = threading.BoundedSemaphore(config.decode_slots)
        self.packs = 0  # packs being built now
        self.uploads = 0  # upload bodies being read or held now
        self.address_uploads: dict[str, int] = {}  # of them by client address
        self.stopping = threading.Event()  # set at Ctrl-C: open streams end
        self.searches = 0  # searches running now
        self.streams = 0
        self.address_streams: dict[str, int] = {}  # open streams by client address
        self.streams_lock = threading.Lock()
        from ..models import demo_photo

        self.default_face = self.renderer.source(image=demo_photo())
        self.default_face_id = next(self.face_ids)

    # ---- sessions --------------------------------------------------------------------------------

    def new_session(self, address: str | None = None) -> Session:
        token = secrets.token_hex(16)  # 128 bits; hex, so that `--session TOKEN` never reads as an option
        s = Session(token, Agent(classes=self.classes), self.default_face, self.default_face_id,
                    self._panel(self.default_face), address=address)
        with self.sessions_lock:
            self.sessions[token] = s
            # A session a stream is playing is never the one forgotten: its device would go on showing a face
            # that no request could reach any more (40 requests without a cookie from its address had done it).
            if address is not None:  # one address's sessions past its share: its own least recently used goes
                own = [k for k, v in self.sessions.items() if v.address == address and k != token]
                if len(own) + 1 > self.config.address_sessions:
                    self.sessions.pop(next((k for k in own if not self.sessions[k].streams), own[0]))
            while len(self.sessions) > self.config.max_sessions:
                # the least recently used session that no request came back to, else the least recently used:
                # a flood of requests without a session (a page of another site cannot send the cookie) forgets
                # its own sessions, not those of the people using the mirror
                idle = [k for k, v in self.sessions.items() if not v.streams and k != token]
                unused = next((k for k in idle if self.sessions[k].uses == 0), idle[0] if idle else None)
                self.sessions.pop(unused) if unused is not None else self.sessions.popitem(last=False)
        return s

    def session(self, token: str | None, create: bool = True, address: str | None = None) -> Session | None:
        """The session of a token, refreshed as recently used; a new one (begun by `address`) for an unknown
        token."""
        with self.sessions_lock:
            s = self.sessions.get(token) if token else None
            if s is not None:
                self.sessions.move_to_end(token)
                s.uses += 1
                return s
        return self.new_session(address) if create else None

    @staticmethod
    def _panel(face: Source) -> Panel:
        return framed(PANEL, face.sketch[None])

    # ---- the models --------------------------------------------------------------------------------

    def classify(self, session: Session, data: bytes, stimulate: bool = False, use_face: bool = False,
                 only_found: bool = False) -> dict:
        """An uploaded image -> emotion probabilities and the face box; optionally the top emotion
        stimulates the session's agent, and the face becomes the one it draws. With `only_found` (camera
        frames), a picture in which the classifier finds no face does not stimulate the agent (its reading is
        of the whole picture), and one in which no face is found to draw (its drawing is the whole picture,
        which people seldom see as a face on the panel) leaves the face drawn before in place: a frame with
        the face turned away or out of view neither moves the agent nor replaces a face that reads."""
        from ..emotion_cnn import predict

        with self.decode_slots:
            gray, up, (width, height) = _image_bytes(data, self.config)
        size = int(self.classifier_state["image_size"])
        face, how, box = crop_face_at(gray, size, self.face_cfg)
        x, y, side = (round(v * up) for v in box[:3])
        with self.model_lock:
            p = predict(self.classifier, face[None], size, device=self.device)[0]
        classes = self.classifier_state["classes"]
        order = np.argsort(-p)
        result = {"label": classes[order[0]], "confidence": round(float(p[order[0]]), 4),
                  "probabilities": {c: round(float(v), 4) for c, v in zip(classes, p)},
                  "box": {"x": x, "y": y, "width": side, "height": side, "found": how != "whole"},
                  "image": {"width": width, "height": height},
                  "stimulated": {}}
        new_face = None
        if use_face:
            try:
                with self.model_lock:
                    new_face = self.renderer.source_from_gray(gray, "auto")
            except EmosketchError as exc:  # a blank frame (a camera starting up): nothing to draw, the face stays
                result["face_kept"] = f"{exc}; the face drawn before stays"
            else:
                new_face = replace(new_face, original=new_face.sketch)  # a session keeps no upload, only its sketch
                if only_found and (drawn_whole(new_face.how) or how == "whole"):  # a pale frame read as a drawing
                    new_face = None
                    result["face_kept"] = ("no face found in this picture, so the face drawn before stays (the whole "
                                           "picture seldom reads as a face on the panel)")
        with session.lock:
            session.advance(self.config.zoom)
            if stimulate and only_found and how == "whole":
                result["not_stimulated"] = "no face found in this picture, so its reading stimulates nothing"
            elif stimulate:
                result["stimulated"] = self._stimulate_by(session.agent, dict(zip(classes, p)))
            if new_face is not None:
                session.face, session.face_id, session.panel = new_face, next(self.face_ids), self._panel(new_face)
                result["face"] = new_face.how
            result["agent"] = session.state()
        return result

    def _stimulate_by(self, agent: Agent, probabilities: dict[str, float]) -> dict[str, float]:
        """Each emotion read with probability p stimulates its channel by stimulus x p, the most
        probable first (so it is the one that may overthrow the dominant channel); neutral, which has
        no channel, and p < 0.05 stimulate nothing. Returns {channel: amount}."""
        done: dict[str, float] = {}
        for emotion, p in sorted(probabilities.items(), key=lambda kv: -kv[1]):
            channel = agent.channel_for(emotion)
            if channel is not None and p >= 0.05:
                amount = round(self.config.stimulus * float(p), 4)
                agent.stimulate(channel, amount)
                done[channel] = done.get(channel, 0.0) + amount
        return done

    @staticmethod
    def _check_amount(amount: float) -> None:
        if not -MAX_AMOUNT <= amount <= MAX_AMOUNT:
            raise RequestError(f"amount {amount}: must be between -{MAX_AMOUNT:g} and {MAX_AMOUNT:g}")

    def stimulate(self, session: Session, channel: str, amount: float) -> dict:
        if channel not in CHANNELS:
            raise RequestError(f"unknown channel {channel!r} (channels: {', '.join(CHANNELS)})")
        self._check_amount(amount)
        with session.lock:
            session.advance(self.config.zoom)
            session.agent.stimulate(channel, amount)
            return session.state()

    def feel(self, session: Session, emotion: str, amount: float) -> dict:
        """An emotion by name (any case, as the command line reads them: joy is happy) stimulates the channel
        that shows it (happy -> joy), for a program whose labels are emotions; neutral, which no channel shows,
        lowers every channel by `amount`, down to nothing (so an emotion asked for just after it shows whole).
        The state, with the channels it moved."""
        self._check_amount(amount)
        name = _emotion_name(emotion)
        channel = session.agent.channel_for(name)
        if channel is not None:
            return self.stimulate(session, channel, amount) | {"stimulated": {channel: amount}}
        if name != "neutral":
            shown_as = sorted(e for e in self.classes if session.agent.channel_for(e)) + ["neutral"]
            raise RequestError(f"no channel shows {emotion!r} (emotions: {', '.join(shown_as)})")
        if amount < 0:
            raise RequestError(f"amount {amount}: neutral calms the channels, by an amount from 0 to {MAX_AMOUNT:g}")
        with session.lock:
            agent = session.agent
            session.advance(self.config.zoom)
            felt = {c: agent.level[c] + agent.pending[c] for c in CHANNELS}
            moved = {c: -round(min(amount, felt[c]), 4) for c in CHANNELS if felt[c] > 1e-3}
            for c, a in moved.items():
                agent.stimulate(c, a)
            return session.state() | {"stimulated": moved}

    def agent_state(self, session: Session) -> dict:
        with session.lock:
            session.advance(self.config.zoom)
            return session.state()

    def weights_from(self, body: dict) -> tuple[np.ndarray, float]:
        """{"weights": {emotion: w}} or {"levels": {channel: level}} -> (weights over the model's classes,
        the one-sided smile: "smirk" among the weights, 0 to 1, or the agent's at those levels)."""
        if "weights" in body:
            raw = body["weights"]
            if not isinstance(raw, dict) or not raw:
                raise RequestError('"weights" must be a non-empty mapping of emotion names to numbers')
            w = np.zeros(len(self.classes))
            smirk = 0.0
            for name, v in raw.items():
                if name == SMIRK and can_smirk(self.classes):
                    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
                        raise RequestError(f"smirk: a number from 0 to 1, got {v!r}")
                    smirk = float(v)
                    continue
                known = _emotion_name(name)  # "Happy", "joy"
                if known not in self.classes:
                    raise RequestError(f"unknown emotion {name!r} (this model: {', '.join(self.classes)})")
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 2:
                    raise RequestError(f"weight of {name}: a number from 0 to 2, got {v!r}")
                w[self.classes.index(known)] += float(v)
            if w.sum() <= 0:
                raise RequestError("the weights sum to zero")
            return w / max(1.0, w.sum()), smirk
        if "levels" in body:
            raw = body["levels"]
            if not isinstance(raw, dict):
                raise RequestError('"levels" must be a mapping of channel names to numbers')
            agent = Agent(classes=self.classes)
            for c, v in raw.items():
                if c not in CHANNELS:
                    raise RequestError(f"unknown channel {c!r} (channels: {', '.join(CHANNELS)})")
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= agent.config.ceiling:
                    raise RequestError(f"level of {c}: a number from 0 to {agent.config.ceiling}, got {v!r}")
                agent.level[c] = float(v)
            wd, smirk = agent.pose()
            return np.array([wd.get(c, 0.0) for c in self.classes]), smirk
        raise RequestError('give "weights" ({emotion: weight}) or "levels" ({channel: level}), or "agent": true')

    def sketch(self, face: Source, weights: np.ndarray, smirk: float = 0.0) -> np.ndarray:
        """The generator's redrawing of the face with the blended style (and the one-sided smile
        `smirk`): uint8 [S, S]."""
        with self.model_lock:
            return self.renderer.render_weights(face, weights[None], np.array([smirk]))[0]

    def _now(self, session: Session, pose: tuple[np.ndarray, float] | None, zoom: float | None):
        """(weights, smirk, zoom, face, face_id, panel): the agent's state now, or the given pose
        (weights_from's) and zoom."""
        with session.lock:
            session.advance(self.config.zoom)
            if pose is None:
                wd, smirk = session.agent.pose()
                pose = np.array([wd.get(c, 0.0) for c in self.classes]), smirk
            zoom = 1.0 + session.zoom if zoom is None else zoom
            return pose[0], pose[1], zoom, session.face, session.face_id, session.panel

    def sketch_now(self, session: Session, pose: tuple[np.ndarray, float] | None = None) -> np.ndarray:
        """The generator's sketch (uint8 [S, S]) of the session's face: the agent's state now, or the pose."""
        weights, smirk, _, face, _, _ = self._now(session, pose, None)
        return self.sketch(face, weights, smirk)

    def bits(self, session: Session, pose: tuple[np.ndarray, float] | None = None, zoom: float | None = None,
             size: str = "128x64") -> np.ndarray:
        """The panel's pixels (bool [H, W], True = lit) for the session's face: the agent's state
        now, or the given pose (weights_from's) and zoom."""
        weights, smirk, zoom, face, face_id, panel = self._now(session, pose, zoom)
        w, h = parse_geometry(size)
        if w * h > 512 * 512:
            raise RequestError(f"size {size}: at most 512x512 pixels")
        panel = panel.sized(w, h)
        smirk = round(smirk * 64) / 64
        key = (face_id, tuple(np.round(weights * 64).astype(int)), smirk, round(zoom, 2), w, h)
        with self.sessions_lock:
            hit = self.cache.get(key)
            if hit is not None:
                self.cache.move_to_end(key)
                return hit
        frame = self.sketch(face, np.round(weights * 64) / 64, smirk)
        bits = draw(frame[None], panel, [round(zoom, 2)])[0]
        with self.sessions_lock:
            if key not in self.cache:
                self.cache[key] = bits
                self.cache_bytes += bits.nbytes
            while len(self.cache) > self.config.cache_frames or self.cache_bytes > self.config.cache_bytes:
                self.cache_bytes -= self.cache.popitem(last=False)[1].nbytes
        return bits

    def frame(self, session: Session, fmt: str) -> tuple[bytes, np.ndarray, dict]:
        """The panel now in a pixel format, its bits, and the agent's state they were drawn from."""
        bits = self.bits(session)
        with session.lock:  # bits() has just advanced the clock: the state is the one drawn
            state = session.state()
        return self.encode(bits, fmt), bits, state

    def open_stream(self, session: Session | None = None, address: str | None = None) -> None:
        """Count a stream when it is asked for, not when it starts: the caps (all streams, each session's and
        each client address's) hold for requests at once."""
        with self.streams_lock:
            if self.streams >= self.config.max_streams:
                raise RequestError(f"{self.config.max_streams} streams are open already; close one first", 429)
            if session is not None and session.streams >= self.config.session_streams:
                raise RequestError(f"this session has {self.config.session_streams} streams open already; close "
                                   "one first", 429)
            if address is not None and self.address_streams.get(address, 0) >= self.config.address_streams:
                raise RequestError(f"{address} has {self.config.address_streams} streams open already; close one "
                                   "first", 429)
            self.streams += 1
            if session is not None:
                session.streams += 1
            if address is not None:
                self.address_streams[address] = self.address_streams.get(address, 0) + 1

    def close_stream(self, session: Session | None = None, address: str | None = None) -> None:
        with self.streams_lock:
            self.streams -= 1
            if session is not None:
                session.streams -= 1
            if address is not None:
                left = self.address_streams.pop(address) - 1
                if left:
                    self.address_streams[address] = left

    @staticmethod
    def encode(bits: np.ndarray, fmt: str) -> bytes:
        """Panel pixels in one of the exporter's pixel formats."""
        try:
            f = pixel_format(fmt)
        except EmosketchError as exc:
            raise RequestError(str(exc)) from None
        try:
            return f.pack(bits[None]).tobytes()
        except EmosketchError as exc:
            raise RequestError(str(exc)) from None

    def search(self, session: Session, target: str, steps: int = 20) -> dict:
        """Make it smile: the path from the agent's weights now to the code that the guide reads as
        `target` on this session's face, as panel frames (bool [T, H, W]) and readings."""
        from ..interpolate.search import SearchConfig, search

        if self.guide is None:
            raise RequestError("the search is off on this mirror: its generator's classes are not the shipped "
                               "guide's, and no --guide was given when it started", 409)
        if target not in self.classes:
            raise RequestError(f"unknown emotion {target!r} (this model: {', '.join(self.classes)})")
        if not 0 <= steps <= 60:
            raise RequestError(f"steps {steps}: from 0 to 60")
        with session.lock:
            session.advance(self.config.zoom)
            wd = session.agent.weights()
            face, panel = session.face, session.panel
        start = np.array([[wd.get(c, 0.0) for c in self.classes]])
        # a search runs about two seconds, and holds the models a step at a time: held for the whole search, it
        # had stalled every stream (1.95 s between two frames of a moving face), and eight at once a camera frame 8.6 s
        with self._slot("searches", self.config.max_searches, "search(es) are running already"):
            res = search(self.renderer, self.guide, self.guide_size, face.sketch[None], [target],
                         SearchConfig(steps=steps), start=start, hold=_Turn(self.model_lock))
        bits = draw(res.frames[:, 0], panel)
        return {"target": target, "reached": bool(res.reached[0]), "climb_from": res.climb_from,
                "p": [round(float(v), 4) for v in res.target_p[:, 0]],
                "probabilities": {c: round(float(v), 4) for c, v in zip(self.classes, res.probabilities[0])},
                "bits": bits}

    def pack_zip(self, session: Session, emotions: list[str]) -> bytes:
        """A verified OLED pack of the session's face in `emotions`, zipped; max_packs are built at once."""
        from ..interpolate.pack import sequences

        unknown = [e for e in emotions if e not in self.classes]
        if unknown:
            raise RequestError(f"unknown emotion {unknown[0]!r} (this model: {', '.join(self.classes)})")
        if len(set(emotions)) != len(emotions) or len(emotions) < 2:
            raise RequestError("a pack needs at least two different emotions")
        with self._slot("packs", self.config.max_packs, "pack(s) are being built already"):
            with session.lock:
                face = session.face
            # the model is held a batch of frames at a time, not for the whole pack: the camera's frames
            # are read between batches
            frames = sequences(_Batched(self.renderer, self.model_lock), face, emotions)
            return self._zipped(frames, face)

    @contextlib.contextmanager
    def _slot(self, counter: str, limit: int, busy: str):
        """One of `limit` places for a long job (the count in attribute `counter`), or a 429 saying `busy`."""
        with self.streams_lock:
            if getattr(self, counter) >= limit:
                raise RequestError(f"{limit} {busy}; ask again when one is done", 429)
            setattr(self, counter, getattr(self, counter) + 1)
        try:
            yield
        finally:
            with self.streams_lock:
                setattr(self, counter, getattr(self, counter) - 1)

    def take_upload(self, address: str | None) -> str | None:
        """Take one of max_uploads places to read and hold an upload, at most address_uploads of them one client
        address's: None when taken, else why not (give it back with give_upload)."""
        with self.streams_lock:
            if self.uploads >= self.config.max_uploads:
                return f"{self.config.max_uploads} uploads are being read already"
            if address is not None and self.address_uploads.get(address, 0) >= self.config.address_uploads:
                return f"this address is sending {self.config.address_uploads} uploads already"
            self.uploads += 1
            if address is not None:
                self.address_uploads[address] = self.address_uploads.get(address, 0) + 1
            return None

    def give_upload(self, address: str | None) -> None:
        with self.streams_lock:
            self.uploads -= 1
            if address is not None:
                self.address_uploads[address] -= 1
                if not self.address_uploads[address]:
                    del self.address_uploads[address]

    @staticmethod
    def _zipped(frames, face: Source) -> bytes:
        import io
        import tempfile
        import zipfile

        from ..interpolate.pack import emotion_pack

        with tempfile.TemporaryDirectory(prefix="emosketch-pack-") as tmp:
            folder = Path(tmp) / "emosketch_pack"
            emotion_pack(frames, folder, face=face)
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
                for p in sorted(folder.rglob("*")):
                    if p.is_file():
                        z.write(p, p.relative_to(folder.parent).as_posix())
        return buf.getvalue()

    def info(self) -> dict:
        return {"classes": self.classes, "channels": list(CHANNELS), "formats": list(FORMATS),
                "classifier_classes": self.classifier_state["classes"], "image_size": self.renderer.size,
                "panel": {"width": PANEL.width, "height": PANEL.height}, "search": self.guide is not None,
                "limits": {"max_upload_bytes": self.config.max_upload_bytes, "max_pixels": self.config.max_pixels}}


class _Batched:
    """A Renderer for a long job that shares the model: every call that runs a network (the style bank's
    codes and blends, each batch of frames) holds `lock` for that call alone, so other requests run between."""

    def __init__(self, renderer, lock: threading.Lock, batch: int = 16):
        self._renderer, self._lock, self._batch = renderer, lock, batch
        self.classes, self.size = renderer.classes, renderer.size
        self.bank = _Locked(renderer.bank, lock)

    def render(self, source: Source, codes) -> np.ndarray:
        out = []
        for s in range(0, len(codes), self._batch):
            with self._lock:
                out.append(self._renderer.render(source, codes[s:s + self._batch]))
        return np.concatenate(out) if out else self._renderer.render(source, codes)


def _emotion_name(name):
    """An emotion name as the command line reads it (any case, through the alias table: joy is happy); anything
    that is not a name (empty, not a string) as it is, for the caller to refuse."""
    return canonical(name) if isinstance(name, str) and name.strip() else name


class _Turn:
    """Holds `lock` for one step of a long job; on leaving, gives a request waiting for it its turn (a thread
    that releases a lock and takes it again at once would keep it from the waiting one)."""

    def __init__(self, lock: threading.Lock):
        self._lock = lock

    def __enter__(self) -> None:
        self._lock.acquire()

    def __exit__(self, *exc) -> None:
        self._lock.release()
        time.sleep(0.001)


class _Locked:
    """An object whose method calls each hold `lock`."""

    def __init__(self, target, lock: threading.Lock):
        self._target, self._lock = target, lock

    def __getattr__(self, name: str):
        attr = getattr(self._target, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            with self._lock:
                return attr(*args, **kwargs)
        return call
