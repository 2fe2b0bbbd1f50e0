"""emosketch pack player for MicroPython (also runs under CPython, given a module named framebuf with
MicroPython's FrameBuffer: pixel, fill, fill_rect and blit over a bytearray, as the tests' fake_framebuf).

Copy this file, frames.bin and index.bin of a pack to the board, then:

    import machine, ssd1306
    from emosketch_player import Pack, Player
    oled = ssd1306.SSD1306_I2C(128, 64, machine.I2C(0), addr=0x3C)
    player = Player(Pack("/pack"), oled, "neutral")
    player.request("happy")        # plays neutral_to_happy, then happy's idle loop
    while True:
        player.update()            # shows the next frame when it is due

Only index.bin (a few bytes per frame) is kept in RAM; each frame is read from frames.bin when
it is shown, and decoded into one frame buffer (two for a pack with 2 px lines, pen 2). player.play("happy_to_sad") plays one sequence.
"""

import struct
from array import array

import framebuf

try:
    from time import sleep_ms, ticks_diff, ticks_ms
except ImportError:  # CPython
    import time

    def ticks_ms():
        return int(time.monotonic() * 1000)

    def ticks_diff(a, b):
        return a - b

    def sleep_ms(ms):
        time.sleep(ms / 1000)

RAW, RLE, DELTA, CTX_KEY, CTX = 0, 1, 2, 3, 4
MODEL_BYTES = 2056  # the context codec's model: 2048 pixel contexts, then 8 block contexts
_SPREAD = b"\x00\x01\x08\x09\x40\x41\x48\x49"  # a column's rows above, at and below a pixel, where its context wants them
HEADER = "<4sBBHHHHHHHBB"
HEADER_SIZE = struct.calcsize(HEADER)
MAX_SIDE = 8192  # the C player's ES_MAX_SIDE


def _damaged(what):
    return ValueError("index.bin is damaged or does not match frames.bin: " + what)


class _RangeDecoder:
    """The context codec's range decoder: bit(p0) is 0 with chance p0/256. A sound frame's coder ends
    with code 0 on its last byte (ended()); a frame cut short or damaged ends elsewhere."""

    def __init__(self, data):
        self.data = data
        self.at = 4
        self.range = 0xFFFFFFFF
        self.code = 0
        for j in range(4):
            self.code = (self.code << 8) | (data[j] if j < len(data) else 0)

    def bit(self, p0):
        bound = (self.range >> 8) * p0
        if self.code < bound:
            self.range = bound
            out = 0
        else:
            self.code -= bound
            self.range -= bound
            out = 1
        while self.range < 0x1000000:
            self.range <<= 8
            self.code = ((self.code << 8) | (self.data[self.at] if self.at < len(self.data) else 0)) & 0xFFFFFFFF
            self.at += 1
        return out

    def ended(self):
        return self.code == 0 and self.at >= len(self.data)


def _emotion_number(names, name):
    """The number of emotion `name` among `names`, given by its number or its name (any case), or -1."""
    if isinstance(name, int):
        return name if 0 <= name < len(names) else -1
    if isinstance(name, str):
        key = name.strip().lower()
        for i, known in enumerate(names):
            if known.lower() == key:
                return i
    return -1


class Pack:
    """The tables of a pack (index.bin) and its frames (frames.bin, read one frame at a time).

    Pack("/pack") reads the two files from a folder; Pack(index=INDEX, frames=io.BytesIO(DATA))
    takes them from memory (the generated NAME.py module does this)."""

    def __init__(self, folder=".", index=None, frames=None):
        if index is None:
            with open(folder + "/index.bin", "rb") as f:
                index = f.read()
        self.frames = frames if frames is not None else open(folder + "/frames.bin", "rb")
        if len(index) < HEADER_SIZE or index[:5] != b"ESPK\x01":
            raise ValueError("not an emosketch index.bin, version 1")
        (_, _, self.pixel_format, self.width, self.height, self.ram_width, self.column_offset,
         self.frame_bytes, n_frames, n_seq, n_emo, flags) = struct.unpack(HEADER, index[:HEADER_SIZE])
        self.frames.seek(0, 2)
        self.data_bytes = self.frames.tell()  # frames.bin's length: no offset may pass it
        self._check_geometry()
        at = HEADER_SIZE
        if len(index) < at + 5 * n_frames + 4 + 6 * n_seq:
            raise _damaged("it ends inside its tables")
        self.offsets = array("I", struct.unpack("<%dI" % (n_frames + 1), index[at:at + 4 * (n_frames + 1)]))
        at += 4 * (n_frames + 1)
        self.codecs = index[at:at + n_frames]
        at += n_frames
        flat = struct.unpack("<%dH" % (3 * n_seq), index[at:at + 6 * n_seq])
        at += 6 * n_seq
        self.sequences = [flat[3 * i:3 * i + 3] for i in range(n_seq)]  # (first, count, ms)
        names = []
        for _ in range(n_seq + n_emo):
            length = index[at] if at < len(index) else 0
            if at + 1 + length > len(index):
                raise _damaged("it ends inside its names")
            try:
                names.append(index[at + 1:at + 1 + length].decode())
            except UnicodeError:
                raise _damaged("a name is not text") from None
            at += 1 + length
        self.sequence_names, self.emotions = names[:n_seq], names[n_seq:]
        self.model = None
        if len(index) < at + 2 * (n_emo + n_emo * n_emo) + (MODEL_BYTES if flags & 1 else 0):
            raise _damaged("it ends inside its emotion tables or context model")
        self.idle = struct.unpack("<%dh" % n_emo, index[at:at + 2 * n_emo])
        at += 2 * n_emo
        self.transitions = struct.unpack("<%dh" % (n_emo * n_emo), index[at:at + 2 * n_emo * n_emo])
        at += 2 * n_emo * n_emo
        if flags & 1:
            self.model = bytes(index[at:at + MODEL_BYTES])
        self.pen = 2 if flags & 2 else 1  # 2: frames are 1 px skeletons that the player draws with a 2x2 pen
        self._cells = None
        self._check_tables()

    def _check_geometry(self):
        """framebuf and the decoders walk the frame by these numbers: they must describe frame_bytes."""
        w, h = self.width, self.height
        if self.pixel_format > 2 or not 0 < w <= MAX_SIDE or not 0 < h <= MAX_SIDE:
            raise _damaged("pixel format %d, %dx%d" % (self.pixel_format, w, h))
        if self.pixel_format == 0:
            ok = self.column_offset + w <= self.ram_width and self.frame_bytes == self.ram_width * ((h + 7) // 8)
        else:
            ok = self.ram_width == w and self.frame_bytes == (w + 7) // 8 * h
        if not ok:
            raise _damaged("%dx%d pixels in %d RAM columns from column %d do not make %d bytes a frame"
                           % (w, h, self.ram_width, self.column_offset, self.frame_bytes))

    def _check_tables(self):
        """The C player's es_pack_check: offsets rise and end at frames.bin's end, codecs are known, the
        sequences tile the frames, idle and transition entries name sequences."""
        at, n = 0, len(self.codecs)
        for i in range(n):
            o = self.offsets[i]
            if o < at or o >= self.data_bytes:
                raise _damaged("frame %d's offset %d is out of order or past frames.bin's %d bytes"
                               % (i, o, self.data_bytes))
            at = o
            if self.codecs[i] > (CTX if self.model else DELTA):
                raise _damaged("frame %d has codec %d" % (i, self.codecs[i]))
        if self.offsets[n] != self.data_bytes:
            raise _damaged("its frames end at byte %d, frames.bin at %d" % (self.offsets[n], self.data_bytes))
        frames = 0
        for first, count, ms in self.sequences:
            if first != frames or not count or not ms:
                raise _damaged("a sequence does not follow the one before it")
            frames += count
        if not self.sequences or frames != n:
            raise _damaged("its sequences hold %d frames, not %d" % (frames, n))
        k = len(self.sequences)
        for s in self.idle:
            if not 0 <= s < k:
                raise _damaged("an idle loop is sequence %d of %d" % (s, k))
        for s in self.transitions:
            if not -1 <= s < k:
                raise _damaged("a transition is sequence %d of %d" % (s, k))

    def emotion_index(self, name):
        """An emotion's number, by its number or its name (any case); ValueError names the pack's emotions."""
        x = _emotion_number(self.emotions, name)
        if x >= 0:
            return x
        if isinstance(name, int):
            raise ValueError("no emotion %d in this pack (0 to %d: %s)"
                             % (name, len(self.emotions) - 1, ", ".join(self.emotions)))
        raise ValueError("%r is not an emotion of this pack (%s)" % (name, ", ".join(self.emotions)))

    def decode(self, index, buf):
        """Decode frame `index` into `buf`. A delta frame is XORed into buf, which must still hold the
        frame before it in the same sequence (the player always decodes in that order). This is the
        frame as stored: in a pack with pen 2, a skeleton that Player draws with the pen."""
        start = self.offsets[index]
        end = self.offsets[index + 1]
        codec = self.codecs[index]
        size = len(buf)  # never resized: framebuf keeps a pointer to it
        # the most its codec can need: a run-length byte per byte, or 8 bits per coded bit (a pixel or a block)
        most = size if codec == RAW else 2 * size if codec in (RLE, DELTA) else 9 * size + 8
        if end < start or end - start > most:
            raise ValueError("corrupt frame %d" % index)  # refused before it is read into RAM
        self.frames.seek(start)
        data = self.frames.read(end - start)
        if len(data) != end - start:
            raise ValueError("frames.bin ends inside frame %d" % index)
        if codec == RAW:
            if len(data) != size:
                raise ValueError("corrupt frame %d" % index)
            buf[:] = data
            return buf
        if codec == CTX_KEY or codec == CTX:
            if not self.decode_ctx(data, buf, codec == CTX_KEY):
                raise ValueError("corrupt frame %d (context-coded data cut short or damaged)" % index)
            return buf
        i = 0
        out = 0
        n = len(data)
        while i < n:
            c = data[i]
            i += 1
            if c < 128:
                k = c + 1
                if out + k > size or i + k > n:
                    raise ValueError("corrupt frame %d" % index)
                if codec == DELTA:
                    for j in range(k):
                        buf[out + j] ^= data[i + j]
                else:
                    buf[out:out + k] = data[i:i + k]
                i += k
            else:
                k = c - 125
                if out + k > size or i >= n:
                    raise ValueError("corrupt frame %d" % index)
                v = data[i]
                i += 1
                if codec == DELTA:
                    if v:
                        for j in range(out, out + k):
                            buf[j] ^= v
                else:
                    for j in range(out, out + k):
                        buf[j] = v
            out += k
        if out != self.frame_bytes:
            raise ValueError("corrupt frame %d" % index)
        return buf


    def decode_ctx(self, data, buf, key):
        """A context-coded frame (see emosketch/export/ctx.py), decoded into buf in place; returns False
        when its coder does not end on its last byte (cut short or damaged). Row formats: the bits of
        one block row and the rows above and below it are mirrored in a small window."""
        model = self.model
        if model is None:
            raise ValueError("a context-coded frame, but index.bin has no context model")
        if self.pixel_format == 0:  # pages: whole 8-row blocks, a block 8 columns wide
            stride, rows, blocks = self.ram_width, 8, (self.ram_width + 7) // 8
        else:
            stride = (self.width + 7) // 8
            rows, blocks = self.frame_bytes // stride, stride
        if rows % 8 or blocks > 32:  # not whole 8x8 blocks, as the C player refuses it: no encoder wrote it
            return False
        if key:
            for j in range(len(buf)):
                buf[j] = 0
        if self.pixel_format == 0:
            return self._ctx_pages(data, buf, 1024 if key else 0)
        cols = stride * 8
        w = cols + 4
        if self._cells is None:  # 10 rows of the bit grid with a margin of 2 zeros, allocated once
            self._cells = bytearray(10 * w)
        cells = self._cells
        rc = _RangeDecoder(data)
        kbit = 1024 if key else 0
        up = bytearray(cols // 8 + 1)
        for br in range(0, rows, 8):
            for k in range(10):  # window row k is grid row br - 1 + k
                r = br - 1 + k
                for c in range(cols):
                    if r < 0 or r >= rows:
                        cells[k * w + c + 2] = 0
                    else:
                        cells[k * w + c + 2] = (buf[r * stride + (c >> 3)] >> (c & 7)) & 1
            left = 0
            for bc in range(0, cols, 8):
                flag = rc.bit(model[2048 + (left | up[bc >> 3] << 1 | (4 if key else 0))])
                up[bc >> 3] = left = flag
                if not flag:
                    continue
                for r in range(br, br + 8):
                    for c in range(bc, min(bc + 8, cols)):
                        i = (r - br + 1) * w + c + 2
                        ctx = (cells[i - w - 1] | cells[i - w] << 1 | cells[i - w + 1] << 2 | cells[i - 1] << 3
                               | cells[i] << 4 | cells[i + 1] << 5 | cells[i + w - 1] << 6
                               | cells[i + w] << 7 | cells[i + w + 1] << 8 | cells[i - 2] << 9 | kbit)
                        if rc.bit(model[ctx]):
                            cells[i] ^= 1
                            buf[r * stride + (c >> 3)] ^= 1 << (c & 7)
        return rc.ended()


    def _ctx_pages(self, data, buf, kbit):
        """decode_ctx for the page formats, where a block is 8 columns of one page: each of its columns
        and the two on either side is a word of the grid rows from the one above the page to the one
        below it, shifted down a row after each block row (as the C player's ctx_block_pages does),
        and the range decoder is inlined."""
        model, spread = self.model, _SPREAD
        stride = self.ram_width
        pages = self.frame_bytes // stride
        n = len(data)
        rng, code, at = 0xFFFFFFFF, 0, 4
        for j in range(4):
            code = (code << 8) | (data[j] if j < n else 0)
        bkey = 4 if kbit else 0
        up = bytearray(stride // 8 + 1)
        w = [0] * 12
        for page in range(pages):
            base = page * stride
            left = 0
            for bc in range(0, stride, 8):
                bound = (rng >> 8) * model[2048 + (left | up[bc >> 3] << 1 | bkey)]
                if code < bound:
                    rng, flag = bound, 0
                else:
                    code, rng, flag = code - bound, rng - bound, 1
                while rng < 0x1000000:
                    rng <<= 8
                    code = ((code << 8) | (data[at] if at < n else 0)) & 0xFFFFFFFF
                    at += 1
                up[bc >> 3] = left = flag
                if not flag:
                    continue
                for j in range(12):
                    c = bc - 2 + j
                    v = 0
                    if 0 <= c < stride:
                        v = buf[base + c] << 1
                        if page:
                            v |= buf[base - stride + c] >> 7
                        if page + 1 < pages:
                            v |= (buf[base + stride + c] & 1) << 9
                    w[j] = v
                end = min(stride - bc, 8) + 2
                at_byte = base + bc - 2
                mask = 1
                for _ in range(8):
                    for j in range(2, end):
                        bound = (rng >> 8) * model[spread[w[j - 1] & 7] | spread[w[j] & 7] << 1
                                                   | spread[w[j + 1] & 7] << 2 | (w[j - 2] & 2) << 8 | kbit]
                        if code < bound:
                            rng = bound
                        else:
                            code -= bound
                            rng -= bound
                            w[j] ^= 2
                            buf[at_byte + j] ^= mask
                        while rng < 0x1000000:
                            rng <<= 8
                            code = ((code << 8) | (data[at] if at < n else 0)) & 0xFFFFFFFF
                            at += 1
                    for j in range(12):
                        w[j] >>= 1
                    mask <<= 1
        return code == 0 and at >= n


JOIN_MS = 500  # how long a request during an idle loop may wait for the loop's pose


def join_wait(pos, count):
    """Frames an idle loop shows before it may be left (pos: the next frame to show): it is left where it
    shows its emotion's own pose, from which every transition starts, so the face moves on without a jump:
    after its first frame, or after its middle one when it has an even number of frames (a breath out and
    back in, as `emosketch pack` draws them)."""
    half = count // 2
    if pos <= 1:
        return 0
    if count % 2 == 0 and pos <= half + 1:
        return half + 1 - pos
    return count + 1 - pos


class Player:
    """The emotion state machine: the current emotion's idle loop plays; request(e) plays the
    transition from the current emotion to e, then e's idle loop. A request during a transition
    waits for it to end (the latest one wins)."""

    def __init__(self, pack, display=None, emotion=0):
        w, h = getattr(display, "width", None), getattr(display, "height", None)
        if w is not None and h is not None and (w, h) != (pack.width, pack.height):
            # a 128x64 pack on a 128x32 display had played as the top half of the face, without a word
            raise ValueError("the pack is %dx%d and the display %dx%d: export the pack with --size %dx%d"
                             % (pack.width, pack.height, w, h, w, h))
        self.pack = pack
        self.display = display
        self.buf = bytearray(pack.frame_bytes)  # the frame as it is shown
        formats = (framebuf.MONO_VLSB, framebuf.MONO_HLSB, framebuf.MONO_HMSB)
        self.fb = framebuf.FrameBuffer(self.buf, pack.ram_width, pack.height, formats[pack.pixel_format])
        self.stored, self.stored_fb = self.buf, self.fb  # the frame as decoded
        if pack.pen == 2:  # a second buffer holds the skeleton that delta frames build on
            self.stored = bytearray(pack.frame_bytes)
            self.stored_fb = framebuf.FrameBuffer(self.stored, pack.ram_width, pack.height, formats[pack.pixel_format])
        self.emotion = pack.emotion_index(emotion) if pack.emotions else 0
        self.target = self.emotion
        self.pending = -1
        self.in_transition = False
        self.seq = pack.idle[self.emotion] if pack.emotions else 0
        self.pos = 0
        self.frame = -1  # index of the frame in buf
        self.due = None
        self.damaged = 0  # corrupt frames update() met and skipped
        self.last_error = None

    def request(self, emotion):
        """Play the transition to `emotion`, then its idle loop. During a transition the request waits for
        its end (the latest wins); during an idle loop, for the loop to show its pose, where the
        transition starts, if that comes within JOIN_MS (as the C player does). An emotion the pack lacks is a
        ValueError that names the ones it has (run() plays on past one)."""
        x = self.pack.emotion_index(emotion)
        self.pending = -1 if x == (self.target if self.in_transition else self.emotion) else x  # next_frame plays it

    def _take_pending(self):
        """The request waiting for a transition's end or a loop's pose, begun now."""
        x, self.pending = self.pending, -1
        self._begin(x)

    def _begin(self, x):
        n = len(self.pack.emotions)
        t = self.pack.transitions[self.emotion * n + x]
        self.pos = 0
        if t >= 0:
            self.seq, self.target, self.in_transition = t, x, True
        else:
            self.emotion = self.target = x
            self.seq, self.in_transition = self.pack.idle[x], False

    def next_frame(self):
        """Decode the next frame into self.buf; returns (frame index, milliseconds to show it). A corrupt
        frame is a ValueError, and the next call goes on from the sequence that would follow it."""
        first, count, ms = self.pack.sequences[self.seq]
        if not self.in_transition and self.pending >= 0:
            wait = join_wait(self.pos, count)  # the loop's pose, if it comes within JOIN_MS; else now
            if not wait or wait * ms > JOIN_MS:
                self._take_pending()
                first, count, ms = self.pack.sequences[self.seq]
        if self.pos >= count:
            if self.in_transition:
                self.in_transition = False
                self.emotion = self.target
                if self.pending >= 0:  # never the target: request() drops a request for it
                    self._take_pending()
                else:
                    self.seq, self.pos = self.pack.idle[self.emotion], 0
            else:
                self.pos = 0
            first, count, ms = self.pack.sequences[self.seq]
        self.frame = first + self.pos
        self.pos += 1
        try:
            self._decode(self.frame)
        except ValueError:
            self.pos = count  # the rest of the sequence builds on this frame: go on from the next one's first
            if not self.in_transition and self.pending >= 0:  # a damaged loop may never show its pose again
                self._take_pending()
            raise
        return self.frame, ms

    def _decode(self, index):
        self.pack.decode(index, self.stored)
        if self.stored is not self.buf:  # the 2x2 pen: the skeleton blitted 4 times, 0 transparent
            self.fb.fill(0)
            for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1)):
                self.fb.blit(self.stored_fb, dx, dy, 0)
            edge = self.pack.column_offset + self.pack.width  # RAM past the display's last column stays clear
            if edge < self.pack.ram_width:
                self.fb.fill_rect(edge, 0, self.pack.ram_width - edge, self.pack.height, 0)

    def current_emotion(self):
        """The emotion shown or being moved to: the last one requested, once it is under way or waiting to be."""
        x = self.pending if self.pending >= 0 else self.target if self.in_transition else self.emotion
        return self.pack.emotions[x]

    def show(self):
        self.display.blit(self.fb, -self.pack.column_offset, 0)
        self.display.show()

    def update(self, now=None):
        """Show the next frame if it is due; returns True when one was shown. A corrupt frame is shown not at
        all, as in the C player: it is counted in self.damaged (its error kept in self.last_error), and the
        next call goes on from the next sequence, so a loop of update() plays on."""
        now = ticks_ms() if now is None else now
        if self.due is not None and ticks_diff(self.due, now) > 0:
            return False
        try:
            _, ms = self.next_frame()
        except ValueError as e:
            self.damaged += 1
            self.last_error = e
            if self.due is None:
                self.due = now
            return False
        if self.display is not None:
            self.show()
        self.due = now + ms if self.due is None else self.due + ms
        if ticks_diff(now, self.due) > 0:  # fell behind (a slow bus): do not try to catch up
            self.due = now + ms
        return True

    def play(self, sequence, loops=1):
        """Play one sequence by name `loops` times (0 = forever) at its own rate, then return."""
        first, count, ms = self.pack.sequences[self.pack.sequence_names.index(sequence)]
        done = 0
        while loops <= 0 or done < loops:
            for i in range(first, first + count):
                start = ticks_ms()
                self.frame = i
                self._decode(i)
                if self.display is not None:
                    self.show()
                wait = ms - ticks_diff(ticks_ms(), start)
                if wait > 0:
                    sleep_ms(wait)
            done += 1

    def run(self, poll=None, agent=None):
        """Play forever; `poll()` may return an emotion name to request, or None. A name the pack lacks changes
        nothing and plays on (kept in self.last_error), so one bad message does not stop the face. With an
        `agent` (Agent), the face shows what the agent feels as it rises and fades, and a name from poll() is
        felt by the agent (Agent.feel) rather than shown at once."""
        last = ticks_ms()
        while True:
            if poll is not None:
                wanted = poll()
                if wanted is not None:
                    try:
                        if agent is not None:
                            agent.feel(wanted)
                        else:
                            self.request(wanted)
                    except ValueError as e:
                        self.last_error = e
            if agent is not None:
                now = ticks_ms()
                if ticks_diff(now, last) >= AGENT_STEP_MS:
                    agent.step(ticks_diff(now, last))
                    last = now
                    self.request(agent.requested())
            if not self.update():
                sleep_ms(2)


CHANNELS = ("fear", "mad", "joy", "love", "sad", "surprise", "power")  # emosketch.interpolate.agent's
_HALF_LIFE_MS = (3000, 4000, 3000, 6000, 8000, 1000, 5000)  # AgentConfig's half-lives
_SHOWS = ("fear", "anger", "happy", "happy", "sad", "surprise", "contempt")  # what each channel shows by default
AGENT_RISE_MS = 150  # a stimulus flows in with this half-time, so the face moves rather than jumps
AGENT_CEILING = 1.5  # a channel's level is capped here
AGENT_OVERTHROW = 0.5  # a stimulus this strong to another channel overthrows the dominant one
AGENT_KEEP = 0.25  # the share of its level the overthrown channel keeps
AGENT_THRESHOLD = 0.3  # a channel felt less than this shows the rest emotion
AGENT_MAX_AMOUNT = 1.5  # a stimulus's amount either way (the mirror's limit)
AGENT_SETTLED = 1e-6  # a level or a stimulus to come under this is 0: a faded channel is at rest exactly
AGENT_STEP_MS = 20  # Player.run steps the agent this often: on a board's 32-bit floats, finer steps add up roundings


class Agent:
    """The agent emotion model of `emosketch agent` and the mirror, on the board (emosketch_agent.h's, step for
    step): stimuli raise channels (fear, mad, joy, love, sad, surprise, power), each fades with its own half-life,
    and a strong stimulus to another channel overthrows the dominant one. requested() is the pack's emotion to
    show now (the player shows one at a time):

        agent = Agent(pack)
        agent.stimulate("joy", 0.8)      # or agent.feel("happy"): joy rises, then fades
        player.run(agent=agent)          # the face follows the agent

    A channel shows the pack's emotion of its default name (joy and love: happy, mad: anger, power:
    contempt); one the pack lacks shows nothing. Change agent.shows or agent.half_life_ms to map or pace
    the channels otherwise."""

    def __init__(self, pack):
        names = [e.lower() for e in (pack.emotions if isinstance(pack, Pack) else pack)]
        self.emotions = names
        self.level = [0.0] * len(CHANNELS)
        self.pending = [0.0] * len(CHANNELS)
        self.half_life_ms = list(_HALF_LIFE_MS)
        self.shows = [names.index(e) if e in names else -1 for e in _SHOWS]
        self.rest = names.index("neutral") if "neutral" in names else 0

    def channel(self, name):
        """A channel's number, by its number or its name (any case); ValueError names the channels."""
        if isinstance(name, int) and 0 <= name < len(CHANNELS):
            return name
        if isinstance(name, str) and name.strip().lower() in CHANNELS:
            return CHANNELS.index(name.strip().lower())
        raise ValueError("%r is not a channel (%s)" % (name, ", ".join(CHANNELS)))

    def _felt(self, c):
        return self.level[c] + self.pending[c]

    def dominant(self):
        """The channel felt most (pending stimuli counted), or None when every one is at rest."""
        best = 0
        for c in range(1, len(CHANNELS)):
            if self._felt(c) > self._felt(best):
                best = c
        return best if self._felt(best) > 1e-3 else None

    def stimulate(self, channel, amount=0.8):
        """Add `amount` (negative soothes; held within +-AGENT_MAX_AMOUNT) to a channel, by name or number; it
        arrives over the next few hundred ms."""
        c = self.channel(channel)
        amount = float(amount)
        if amount != amount:  # NaN: a sensor's bad reading changes nothing
            return
        amount = max(-AGENT_MAX_AMOUNT, min(AGENT_MAX_AMOUNT, amount))
        old = self.dominant()
        if amount >= AGENT_OVERTHROW and old is not None and old != c:
            self.pending[old] -= (1.0 - AGENT_KEEP) * (self.level[old] + self.pending[old])
        self.pending[c] += amount

    def feel(self, emotion, amount=0.8):
        """Stimulate the first channel that shows the pack's `emotion` (a name in any case, or its number);
        the rest emotion (neutral) calms every channel by `amount`. ValueError when no channel shows it."""
        x = _emotion_number(self.emotions, emotion)
        if x >= 0 and x in self.shows:
            self.stimulate(self.shows.index(x), amount)
        elif x == self.rest and amount >= 0:
            for c in range(len(CHANNELS)):
                felt = self._felt(c)
                if felt > 1e-3:
                    self.stimulate(c, -min(amount, felt))
        else:
            shown = [self.emotions[e] for e in sorted(set(self.shows)) if e >= 0] + [self.emotions[self.rest]]
            raise ValueError("no channel shows %r (emotions: %s)" % (emotion, ", ".join(shown)))

    def step(self, ms):
        """Let `ms` milliseconds pass (none, for a negative or NaN ms): stimuli flow in, then every channel fades."""
        if not ms > 0:
            ms = 0
        dt = ms / 1000
        fraction = 1.0 - 0.5 ** (dt / (AGENT_RISE_MS / 1000))
        for c in range(len(CHANNELS)):
            moved = self.pending[c] * fraction
            self.level[c] = min(AGENT_CEILING, max(0.0, self.level[c] + moved))
            self.pending[c] -= moved
            if abs(self.pending[c]) < AGENT_SETTLED:
                self.pending[c] = 0.0
        for c in range(len(CHANNELS)):
            self.level[c] *= 0.5 ** (dt / (max(1, self.half_life_ms[c]) / 1000))
            if self.level[c] < AGENT_SETTLED:
                self.level[c] = 0.0

    def requested(self):
        """The pack's emotion (its number) to show now: that of the most felt channel the pack can show, while it
        is felt at least AGENT_THRESHOLD (a stimulus still rising in counts), else the rest emotion."""
        felt = sorted(((self._felt(c), CHANNELS[c], c) for c in range(len(CHANNELS)) if self.shows[c] >= 0),
                      reverse=True)
        if felt and felt[0][0] >= AGENT_THRESHOLD:
            return self.shows[felt[0][2]]
        return self.rest
