#!/usr/bin/python3
"""Raw-frame HTTP/2 abuse client: one abuse case on one fresh connection.

    tests/h2/abuse.py [--tls] [--timeout S] HOST PORT CASE
    tests/h2/abuse.py --list

Speaks h2c with prior knowledge (or h2 over TLS with ALPN under --tls, no
certificate check), runs CASE while a request is in flight on another
connection (the bystander, a POST whose body is sent after the case, which
must then get its 200), and prints one JSON line: what the peer did
(GOAWAY and its error code, RST_STREAMs by error code, response statuses,
whether it closed the connection or stopped reading), the timings, how many
frames and bytes were sent, the reaction RFC 9113 asks for, and the verdict.
Exit status: 0 when the peer reacted as expected, 1 when not, 2 on a usage
error or when the connection could not be set up, 3 when the case could not
tell (data-beyond-window against a peer that re-opened its windows while
reading: "pass" is null). `--list` prints the case
names, one a line. The contract is documented in docs/http2.md.

Frames are written by hand (9-byte header + payload) and HPACK blocks are
built by hand (static-table references and literals that never touch the
dynamic table, except in the HPACK bomb), so that anything can be sent;
the peer's frames are parsed with hyperframe and its header blocks decoded
with hpack (Debian python3-h2 brings both). Run with /usr/bin/python3: the
Debian packages are not visible to a pyenv or venv interpreter.
"""

import argparse
import json
import select
import socket
import ssl
import struct
import sys
import time

try:
    import hpack
    from hyperframe.frame import (
        ContinuationFrame,
        Frame,
        GoAwayFrame,
        HeadersFrame,
        PingFrame,
        RstStreamFrame,
        SettingsFrame,
        WindowUpdateFrame,
    )
except ImportError as e:
    print(f"abuse.py needs python3-h2 (hyperframe, hpack): {e}", file=sys.stderr)
    sys.exit(2)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# Frame types and flags (RFC 9113 section 6).
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = (
    0x0, 0x1, 0x3, 0x4, 0x6, 0x7, 0x8, 0x9)
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4

# Error codes (RFC 9113 section 7).
ERRORS = {
    0x0: "NO_ERROR", 0x1: "PROTOCOL_ERROR", 0x2: "INTERNAL_ERROR",
    0x3: "FLOW_CONTROL_ERROR", 0x4: "SETTINGS_TIMEOUT", 0x5: "STREAM_CLOSED",
    0x6: "FRAME_SIZE_ERROR", 0x7: "REFUSED_STREAM", 0x8: "CANCEL",
    0x9: "COMPRESSION_ERROR", 0xA: "CONNECT_ERROR", 0xB: "ENHANCE_YOUR_CALM",
    0xC: "INADEQUATE_SECURITY", 0xD: "HTTP_1_1_REQUIRED",
}
CANCEL = 0x8

# SETTINGS identifiers.
MAX_CONCURRENT_STREAMS, INITIAL_WINDOW_SIZE, MAX_FRAME_SIZE, MAX_HEADER_LIST_SIZE = 3, 4, 5, 6

MAX_WINDOW = 2**31 - 1
# Our receive windows: large, so that the peer never waits on us for DATA.
OUR_WINDOW = 2**30
# How long a write may wait before the peer counts as having stopped reading.
STALL = 2.0
# Longest a flood goes on when the peer neither reacts nor stops reading.
FLOOD_SECONDS = 10.0


# ---------------------------------------------------------------- encoding

def frame(ftype, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream) + payload


def hpack_int(value, prefix_bits, first=0):
    """An HPACK integer (RFC 7541 section 5.1) with `first` in the high bits."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = bytearray([first | limit])
    value -= limit
    while value >= 128:
        out.append(value % 128 + 128)
        value //= 128
    out.append(value)
    return bytes(out)


def hpack_str(data):
    return hpack_int(len(data), 7) + data


def literal(name, value):
    """A literal field without indexing, new name, no Huffman coding."""
    return b"\x00" + hpack_str(name) + hpack_str(value)


def literal_name_ref(index, value):
    """A literal field without indexing whose name is static-table entry `index`."""
    return hpack_int(index, 4) + hpack_str(value)


def request_block(authority, method=b"GET", path=b"/", scheme=b"http", extra=(), skip=()):
    """A request header block; `skip` names pseudo-fields to leave out."""
    out = b""
    if b":method" not in skip:
        out += {b"GET": b"\x82", b"POST": b"\x83"}[method]
    if b":scheme" not in skip:
        out += {b"http": b"\x86", b"https": b"\x87"}[scheme]
    if b":path" not in skip:
        out += b"\x84" if path == b"/" else literal_name_ref(4, path)
    out += literal_name_ref(1, authority)
    for name, value in extra:
        out += literal(name, value)
    return out


def settings(pairs=()):
    return frame(SETTINGS, 0, 0, b"".join(struct.pack(">HI", k, v) for k, v in pairs))


# ---------------------------------------------------------------- the connection


class Closed(Exception):
    """The peer closed the connection."""


class Stalled(Exception):
    """The peer stopped reading: a write waited STALL seconds."""


class Peer:
    """One connection to the peer, and everything it was seen to do."""

    def __init__(self, host, port, tls, authority):
        self.authority = authority
        raw = socket.create_connection((host, port), timeout=5)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.set_alpn_protocols(["h2"])
            raw = ctx.wrap_socket(raw, server_hostname=host)
            if raw.selected_alpn_protocol() != "h2":
                raise OSError(f"ALPN chose {raw.selected_alpn_protocol()!r}, not h2")
        raw.setblocking(False)
        self.sock = raw
        self.buf = bytearray()
        self.decoder = hpack.Decoder(max_header_list_size=2**31)
        self.start = time.monotonic()
        self.frames_sent = 0
        self.bytes_sent = 0
        self.peer_settings = {}
        self.settings_seen = 0
        self.settings_acks = 0
        self.ping_acks = 0
        self.goaway = None
        self.goaway_ms = None
        self.resets = {}  # stream id -> error code
        self.status = {}  # stream id -> :status
        self.granted = {}  # stream id (0: the connection) -> WINDOW_UPDATE increments, summed
        self.closed = False
        self.closed_ms = None
        self.stalled = False
        self.http1 = None  # the status line of an HTTP/1.x answer
        self.block = None  # (stream, bytes) of a header block being continued
        self.decode_error = None

    def ms(self):
        return round((time.monotonic() - self.start) * 1000, 1)

    # -- writing

    def send(self, data, frames=1, read=True):
        """Writes all of `data`; reads what the peer sends meanwhile unless
        `read` is False. Raises Closed or Stalled."""
        view = memoryview(data)
        while view:
            readers = [self.sock] if read and not self.closed else []
            r, w, _ = select.select(readers, [self.sock], [], STALL)
            if r:
                self.receive()
            if w:
                try:
                    n = self.sock.send(view)
                except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
                    continue
                except OSError:
                    self.mark_closed()
                    raise Closed()
                view = view[n:]
                self.bytes_sent += n
            elif not r:
                self.stalled = True
                raise Stalled()
        self.frames_sent += frames

    # -- reading

    def mark_closed(self):
        if not self.closed:
            self.closed = True
            self.closed_ms = self.ms()

    def receive(self):
        """Reads what is there and handles every complete frame."""
        while True:
            try:
                chunk = self.sock.recv(1 << 16)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                return
            except OSError:
                self.mark_closed()
                return
            if not chunk:
                self.mark_closed()
                return
            self.buf += chunk
            self.parse()

    def parse(self):
        if self.http1 is None and self.buf.startswith(b"HTTP/1."):
            self.http1 = bytes(self.buf.split(b"\r\n", 1)[0]).decode("latin-1")
        if self.http1 is not None:
            self.buf.clear()
            return
        while len(self.buf) >= 9:
            f, length = Frame.parse_frame_header(memoryview(self.buf[:9]))
            if len(self.buf) < 9 + length:
                return
            body = bytes(self.buf[9:9 + length])
            del self.buf[:9 + length]
            f.parse_body(memoryview(body))
            self.on_frame(f)

    def on_frame(self, f):
        if isinstance(f, SettingsFrame):
            if "ACK" in f.flags:
                self.settings_acks += 1
            else:
                self.settings_seen += 1
                if self.settings_seen == 1:
                    self.peer_settings = dict(f.settings)
        elif isinstance(f, PingFrame) and "ACK" in f.flags:
            self.ping_acks += 1
        elif isinstance(f, GoAwayFrame):
            if self.goaway is None:
                self.goaway_ms = self.ms()
            self.goaway = (f.error_code, f.last_stream_id)
        elif isinstance(f, RstStreamFrame):
            self.resets[f.stream_id] = f.error_code
        elif isinstance(f, HeadersFrame):
            self.block = (f.stream_id, bytes(f.data))
            if "END_HEADERS" in f.flags:
                self.end_block()
        elif isinstance(f, ContinuationFrame) and self.block:
            self.block = (self.block[0], self.block[1] + bytes(f.data))
            if "END_HEADERS" in f.flags:
                self.end_block()
        elif isinstance(f, WindowUpdateFrame):
            self.granted[f.stream_id] = self.granted.get(f.stream_id, 0) + f.window_increment

    def end_block(self):
        stream, block = self.block
        self.block = None
        try:
            fields = self.decoder.decode(block, raw=True)
        except Exception as e:  # hpack raises several types; any means a bad block
            self.decode_error = str(e)
            return
        for name, value in fields:
            if name == b":status" and stream not in self.status:
                self.status[stream] = int(value)

    def wait(self, seconds, until):
        """Reads until `until()` holds, the peer closes, or `seconds` pass."""
        deadline = time.monotonic() + seconds
        while not until() and not self.closed:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            r, _, _ = select.select([self.sock], [], [], left)
            if r:
                self.receive()
        return until()

    def handshake(self):
        """Preface and SETTINGS both ways; opens our windows wide."""
        self.send(PREFACE + settings([(INITIAL_WINDOW_SIZE, OUR_WINDOW)]) +
                  frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", OUR_WINDOW - 65535)), frames=2)
        if not self.wait(5, lambda: self.settings_seen > 0):
            raise OSError("no SETTINGS from the peer within 5 s")
        self.send(frame(SETTINGS, ACK, 0))
        self.start = time.monotonic()
        self.frames_sent = 0
        self.bytes_sent = 0

    def settle(self, seconds=3.0):
        """After an abuse: waits for the close that follows a GOAWAY."""
        if self.goaway is None:
            self.wait(seconds, lambda: self.goaway is not None)
        if self.goaway is not None:
            self.wait(seconds, lambda: False)

    # -- the record

    def record(self):
        resets = {}
        for code in self.resets.values():
            name = ERRORS.get(code, hex(code))
            resets[name] = resets.get(name, 0) + 1
        statuses = {}
        for status in self.status.values():
            statuses[str(status)] = statuses.get(str(status), 0) + 1
        goaway = None
        if self.goaway is not None:
            goaway = {"error": ERRORS.get(self.goaway[0], hex(self.goaway[0])),
                      "last_stream_id": self.goaway[1], "ms": self.goaway_ms}
        return {
            "goaway": goaway,
            "closed": self.closed,
            "closed_ms": self.closed_ms,
            "stalled": self.stalled,
            "resets": resets,
            "statuses": statuses,
            "http1": self.http1,
            "frames_sent": self.frames_sent,
            "bytes_sent": self.bytes_sent,
            "ping_acks": self.ping_acks,
            "window_updates": {str(k): v for k, v in self.granted.items()},
            "settings_acks": self.settings_acks,
            "peer_settings": {str(k): v for k, v in self.peer_settings.items()},
            "elapsed_ms": self.ms(),
        }

    def goaway_is(self, *names):
        return self.goaway is not None and ERRORS.get(self.goaway[0]) in names

    def refused_or_ended(self, stream):
        return stream in self.resets or stream in self.status or self.goaway is not None


# ---------------------------------------------------------------- cases
#
# Each case: (function, RFC 9113 reaction). The function runs the abuse on a
# connection past its handshake and returns (pass, outcome): whether the
# peer's reaction is one the RFC allows (None: the case could not tell), and
# a short word for it.


def flood(peer, make, read, limit_frames):
    """Sends frames from make(i) in batches until the peer closes, stops
    reading, the frame limit or FLOOD_SECONDS."""
    end = time.monotonic() + FLOOD_SECONDS
    i = 0
    try:
        while i < limit_frames and time.monotonic() < end and peer.goaway is None:
            batch, n = make(i)
            peer.send(batch, frames=n, read=read)
            i += n
    except (Closed, Stalled):
        pass
    # A peer that stopped reading may still have said GOAWAY: read it.
    peer.settle(1 if peer.stalled else 3)


def conn_outcome(peer):
    if peer.goaway is not None:
        return "goaway " + ERRORS.get(peer.goaway[0], hex(peer.goaway[0]))
    if peer.closed:
        return "closed"
    if peer.stalled:
        return "stopped reading"
    return "no reaction"


def stream_outcome(peer, stream):
    if stream in peer.status:
        return f"status {peer.status[stream]}"
    if stream in peer.resets:
        return "rst " + ERRORS.get(peer.resets[stream], hex(peer.resets[stream]))
    return conn_outcome(peer)


def case_rapid_reset(peer):
    """HEADERS then RST_STREAM(CANCEL), 10 000 times (CVE-2023-44487)."""
    block = request_block(peer.authority)
    pairs = 100

    def make(i):
        out = bytearray()
        for k in range(pairs):
            stream = 2 * (i // 2 + k) + 1
            out += frame(HEADERS, END_HEADERS | END_STREAM, stream, block)
            out += frame(RST_STREAM, 0, stream, struct.pack(">I", CANCEL))
        return bytes(out), 2 * pairs

    flood(peer, make, read=True, limit_frames=20000)
    return peer.goaway is not None or peer.closed, conn_outcome(peer)


def case_continuation_flood(peer):
    """HEADERS without END_HEADERS, then CONTINUATION frames without end."""
    field = literal(b"x-flood", b"a" * 4000)
    payload = (field * 5)[:16384]
    # A block cut at any byte is still a prefix of valid fields; the peer
    # only learns it is endless by counting.
    first = frame(HEADERS, END_STREAM, 1, request_block(peer.authority))
    peer.send(first)
    cont = frame(CONTINUATION, 0, 1, payload)

    def make(i):
        return cont * 16, 16

    flood(peer, make, read=True, limit_frames=4096)  # 64 MiB at most
    return peer.goaway is not None or peer.closed, conn_outcome(peer)


def case_settings_flood(peer):
    """SETTINGS frames without reading the ACKs."""
    one = settings([(INITIAL_WINDOW_SIZE, OUR_WINDOW)])
    flood(peer, lambda i: (one * 1000, 1000), read=False, limit_frames=1_000_000)
    return peer.goaway is not None or peer.closed or peer.stalled, conn_outcome(peer)


def case_ping_flood(peer):
    """PING frames without reading the ACKs."""
    one = frame(PING, 0, 0, b"abusepng")
    flood(peer, lambda i: (one * 1000, 1000), read=False, limit_frames=1_000_000)
    return peer.goaway is not None or peer.closed or peer.stalled, conn_outcome(peer)


def case_too_many_streams(peer):
    """Opens the peer's SETTINGS_MAX_CONCURRENT_STREAMS + 10 streams, each
    kept open (a POST whose body never comes)."""
    limit = peer.peer_settings.get(MAX_CONCURRENT_STREAMS)
    if limit is None:
        return False, "no SETTINGS_MAX_CONCURRENT_STREAMS (unlimited)"
    if limit > 10000:
        return False, f"SETTINGS_MAX_CONCURRENT_STREAMS {limit}: no limit in practice"
    block = request_block(peer.authority, method=b"POST")
    total = limit + 10
    streams = [2 * k + 1 for k in range(total)]
    try:
        peer.send(b"".join(frame(HEADERS, END_HEADERS, s, block) for s in streams), frames=total)
    except (Closed, Stalled):
        pass
    excess = streams[limit:]
    peer.wait(5, lambda: all(s in peer.resets for s in excess) or peer.goaway is not None)
    refused = [s for s in excess if ERRORS.get(peer.resets.get(s)) in ("REFUSED_STREAM", "PROTOCOL_ERROR")]
    wrongly = [s for s in streams[:limit] if s in peer.resets]
    ok = peer.goaway is not None or (len(refused) == len(excess) and not wrongly)
    outcome = conn_outcome(peer) if peer.goaway is not None else \
        f"{len(refused)}/{len(excess)} excess streams refused, {len(wrongly)} within the limit reset"
    return ok, outcome


def refused(peer, stream):
    """The peer refused the request: 4xx, a stream reset, or a connection error."""
    status = peer.status.get(stream)
    if status is not None:
        return 400 <= status < 500
    return stream in peer.resets or peer.goaway is not None or peer.closed


def case_oversized_headers(peer):
    """A header list twice the peer's SETTINGS_MAX_HEADER_LIST_SIZE (1 MiB if
    it sets none), sent in HEADERS + CONTINUATION frames."""
    limit = peer.peer_settings.get(MAX_HEADER_LIST_SIZE, 1 << 19)
    fields = b"".join(literal(b"x-big-%d" % i, b"v" * 4000) for i in range(2 * limit // 4000 + 1))
    block = request_block(peer.authority) + fields
    send_block(peer, 1, block, END_STREAM)
    peer.wait(5, lambda: peer.refused_or_ended(1))
    return refused(peer, 1), stream_outcome(peer, 1)


def send_block(peer, stream, block, flags):
    """A header block as HEADERS + CONTINUATION frames of 16 KiB."""
    size = peer.peer_settings.get(MAX_FRAME_SIZE, 16384)
    pieces = [block[i:i + size] for i in range(0, len(block), size)] or [b""]
    out = bytearray()
    for i, piece in enumerate(pieces):
        last = END_HEADERS if i == len(pieces) - 1 else 0
        out += frame(HEADERS if i == 0 else CONTINUATION, (flags if i == 0 else 0) | last, stream, piece)
    try:
        peer.send(bytes(out), frames=len(pieces))
    except (Closed, Stalled):
        pass


def case_hpack_bomb(peer):
    """One 4 000-byte field put in the HPACK dynamic table, then referenced
    16 000 times in one 16 KiB block: 64 MB of header list."""
    insert = b"\x40" + hpack_str(b"x-bomb") + hpack_str(b"b" * 4000)  # incremental indexing
    block = request_block(peer.authority) + insert + b"\xbe" * 16000  # index 62: the newest entry
    send_block(peer, 1, block, END_STREAM)
    peer.wait(5, lambda: peer.refused_or_ended(1))
    return refused(peer, 1), stream_outcome(peer, 1)


def case_window_update_overflow(peer):
    """WINDOW_UPDATE on the connection taking the window past 2^31-1."""
    try:
        peer.send(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", MAX_WINDOW)) * 2, frames=2)
    except (Closed, Stalled):
        pass
    peer.settle()
    return peer.goaway_is("FLOW_CONTROL_ERROR"), conn_outcome(peer)


def case_window_update_overflow_stream(peer):
    """WINDOW_UPDATE on an open stream taking its window past 2^31-1."""
    block = request_block(peer.authority, method=b"POST")
    try:
        peer.send(frame(HEADERS, END_HEADERS, 1, block) +
                  frame(WINDOW_UPDATE, 0, 1, struct.pack(">I", MAX_WINDOW)), frames=2)
    except (Closed, Stalled):
        pass
    peer.wait(5, lambda: peer.refused_or_ended(1))
    ok = ERRORS.get(peer.resets.get(1)) == "FLOW_CONTROL_ERROR" or peer.goaway_is("FLOW_CONTROL_ERROR")
    return ok, stream_outcome(peer, 1)


def case_data_beyond_window(peer):
    """A POST whose DATA, sent in one write, passes the peer's stream and
    connection windows (65 535 bytes unless its SETTINGS say more) by 64 KiB.

    A peer that re-opens its windows as it reads (a proxy forwarding the body
    as it comes) may have granted the excess by the time it reads it: it
    cannot tell then, and the case is inconclusive (None), not failed, when
    the peer's WINDOW_UPDATEs cover everything that was sent."""
    window = peer.peer_settings.get(INITIAL_WINDOW_SIZE, 65535)
    size = min(peer.peer_settings.get(MAX_FRAME_SIZE, 16384), 16384)
    total = window + 65536
    block = request_block(peer.authority, method=b"POST",
                          extra=[(b"content-length", str(total).encode())])
    out = bytearray(frame(HEADERS, END_HEADERS, 1, block))
    sent, n = 0, 1
    while sent < total:
        piece = min(size, total - sent)
        sent += piece
        out += frame(DATA, END_STREAM if sent == total else 0, 1, b"d" * piece)
        n += 1
    try:
        peer.send(bytes(out), frames=n)
    except (Closed, Stalled):
        pass
    peer.wait(5, lambda: peer.refused_or_ended(1))
    peer.settle(1)
    if ERRORS.get(peer.resets.get(1)) == "FLOW_CONTROL_ERROR" or peer.goaway_is("FLOW_CONTROL_ERROR"):
        return True, stream_outcome(peer, 1)
    covered = (65535 + peer.granted.get(0, 0) >= total and
               window + peer.granted.get(1, 0) >= total)
    if covered:
        return None, stream_outcome(peer, 1) + ": the peer's WINDOW_UPDATEs covered the excess (not detectable)"
    return False, stream_outcome(peer, 1)


def case_invalid_preface(peer):
    """A preface that starts like HTTP/2's and is wrong after 18 bytes."""
    try:
        peer.send(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n" + settings())
    except (Closed, Stalled):
        pass
    peer.wait(5, lambda: False)
    return peer.closed and peer.status == {}, conn_outcome(peer) + (f" ({peer.http1})" if peer.http1 else "")


def malformed(extra=(), method=b"GET", skip=()):
    """A case sending one malformed request (RFC 9113 section 8.1.1)."""
    def case(peer):
        block = request_block(peer.authority, method=method, extra=extra, skip=skip)
        send_block(peer, 1, block, END_STREAM)
        peer.wait(5, lambda: peer.refused_or_ended(1))
        return refused(peer, 1), stream_outcome(peer, 1)
    return case


def content_length(declared, sent):
    def case(peer):
        block = request_block(peer.authority, method=b"POST",
                              extra=[(b"content-length", str(declared).encode())])
        try:
            peer.send(frame(HEADERS, END_HEADERS, 1, block) +
                      frame(DATA, END_STREAM, 1, b"c" * sent), frames=2)
        except (Closed, Stalled):
            pass
        peer.wait(5, lambda: peer.refused_or_ended(1))
        return refused(peer, 1), stream_outcome(peer, 1)
    return case


def case_normal(peer):
    """A valid GET: the control case, it must get a 2xx."""
    send_block(peer, 1, request_block(peer.authority), END_STREAM)
    peer.wait(5, lambda: peer.refused_or_ended(1))
    status = peer.status.get(1)
    return status is not None and 200 <= status < 300, stream_outcome(peer, 1)


MALFORMED = "stream error PROTOCOL_ERROR or a 4xx, never forwarded (8.1.1)"
CASES = {
    "normal": (case_normal, "a 2xx (control case)"),
    "rapid-reset": (case_rapid_reset,
                    "10.5: MAY treat as a connection error; expected GOAWAY (ENHANCE_YOUR_CALM) and close"),
    "continuation-flood": (case_continuation_flood,
                           "10.5.1: header block larger than it accepts: connection error (GOAWAY) and close"),
    "settings-flood": (case_settings_flood,
                       "6.5.3/10.5: every SETTINGS is acknowledged; GOAWAY ENHANCE_YOUR_CALM or stop reading"),
    "ping-flood": (case_ping_flood,
                   "6.7/10.5: every PING is answered; GOAWAY ENHANCE_YOUR_CALM or stop reading"),
    "too-many-streams": (case_too_many_streams,
                         "5.1.2: streams above the limit: stream error REFUSED_STREAM or PROTOCOL_ERROR"),
    "oversized-headers": (case_oversized_headers,
                          "10.5.1: a 431, a stream reset or a connection error, never a 2xx"),
    "hpack-bomb": (case_hpack_bomb,
                   "10.5.1, RFC 7541 7.3: decoded size counts: 431, reset or GOAWAY, never a 2xx"),
    "window-update-overflow": (case_window_update_overflow,
                               "6.9.1: connection window past 2^31-1: GOAWAY FLOW_CONTROL_ERROR"),
    "window-update-overflow-stream": (case_window_update_overflow_stream,
                                      "6.9.1: stream window past 2^31-1: RST_STREAM FLOW_CONTROL_ERROR"),
    "data-beyond-window": (case_data_beyond_window,
                           "6.9.1: DATA past the window: FLOW_CONTROL_ERROR (stream or connection)"),
    "invalid-preface": (case_invalid_preface,
                        "3.4: connection error PROTOCOL_ERROR; the GOAWAY MAY be omitted; the connection closes"),
    "header-crlf": (malformed(extra=[(b"x-evil", b"a\r\nx-injected: 1")]), "8.2.1: CR/LF in a value: " + MALFORMED),
    "header-nul": (malformed(extra=[(b"x-evil", b"a\x00b")]), "8.2.1: NUL in a value: " + MALFORMED),
    "uppercase-header": (malformed(extra=[(b"X-Upper", b"1")]), "8.2.1: uppercase name: " + MALFORMED),
    "connection-header": (malformed(extra=[(b"connection", b"keep-alive")]),
                          "8.2.2: connection-specific field: " + MALFORMED),
    "transfer-encoding": (malformed(extra=[(b"transfer-encoding", b"chunked")], method=b"POST"),
                          "8.2.2: connection-specific field: " + MALFORMED),
    "missing-path": (malformed(skip=[b":path"]), "8.3.1: no :path: " + MALFORMED),
    "missing-method": (malformed(skip=[b":method"]), "8.3.1: no :method: " + MALFORMED),
    "content-length-short": (content_length(10, 5), "8.1.1: content-length above the DATA: " + MALFORMED),
    "content-length-long": (content_length(5, 10), "8.1.1: content-length below the DATA: " + MALFORMED),
}


def open_bystander(host, port, tls, authority):
    """Another connection with a request in flight during the abuse: a POST
    whose body is sent only afterwards. Raises OSError if it cannot be set up."""
    peer = Peer(host, port, tls, authority)
    peer.handshake()
    block = request_block(authority, method=b"POST")
    peer.send(frame(HEADERS, END_HEADERS, 1, block))
    return peer


def finish_bystander(peer):
    """Ends the bystander's request; its outcome: "status 200" when the abuse
    on the other connection left it alone."""
    try:
        peer.send(frame(DATA, END_STREAM, 1, b"after"))
    except (Closed, Stalled):
        pass
    peer.wait(5, lambda: peer.refused_or_ended(1))
    return stream_outcome(peer, 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--list", action="store_true", help="print the case names and exit")
    parser.add_argument("--tls", action="store_true", help="h2 over TLS (ALPN h2, no certificate check)")
    parser.add_argument("host", nargs="?")
    parser.add_argument("port", nargs="?", type=int)
    parser.add_argument("case", nargs="?", choices=sorted(CASES))
    args = parser.parse_args()
    if args.list:
        print("\n".join(CASES))
        return 0
    if args.case is None:
        parser.error("HOST PORT CASE are needed")
    run, rfc = CASES[args.case]
    authority = f"{args.host}:{args.port}".encode()
    try:
        peer = Peer(args.host, args.port, args.tls, authority)
        if args.case != "invalid-preface":
            peer.handshake()
        bystander = open_bystander(args.host, args.port, args.tls, authority)
    except (OSError, Closed, Stalled) as e:
        print(json.dumps({"case": args.case, "pass": False, "error": f"setup failed: {e!r}"}))
        return 2
    ok, outcome = run(peer)
    bystanding = finish_bystander(bystander)
    if ok and bystanding != "status 200":
        ok = False
    result = {"case": args.case, "pass": ok if ok is None else bool(ok), "outcome": outcome,
              "bystander": bystanding, "rfc9113": rfc}
    result.update(peer.record())
    if peer.decode_error:
        result["decode_error"] = peer.decode_error
    print(json.dumps(result))
    if ok is None:
        return 3
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
