#!/usr/bin/python3
"""Writes the binary seed corpora of ws_codec_fuzz and
http_fuzz (tests/fuzz/corpus/NAME/), which are easier to build than to
type: masked client frames, and HTTP requests with exact lengths. Run from anywhere;
rewrites the files it owns and leaves any other seed (e.g. a crash kept as
a regression input) alone.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
MASK = b"\x37\xfa\x21\x3d"


def frame(opcode, payload, fin=True, mask=MASK, length_form=None, rsv=0):
    """One client frame: masked unless mask is None; length_form forces the
    16-bit (126) or 64-bit (127) length encoding; rsv sets reserved bits
    (0x40, 0x20, 0x10)."""
    if isinstance(payload, str):
        payload = payload.encode()
    head = bytes([(0x80 if fin else 0) | rsv | opcode])
    bit = 0x80 if mask is not None else 0
    n = len(payload)
    if length_form == 127 or n > 0xFFFF:
        head += bytes([bit | 127]) + struct.pack(">Q", n)
    elif length_form == 126 or n > 125:
        head += bytes([bit | 126]) + struct.pack(">H", n)
    else:
        head += bytes([bit | n])
    if mask is None:
        return head + payload
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def ws_control(byte0):
    """Byte 0 of a ws_codec_fuzz input: read size in bits 1..7, bit 0 the
    small message limit."""
    return bytes([byte0])


HELLO = '{"type":"hello","id":1,"token":"k1Xb3Qm9fZ0pW7eYtR2sVg","after":41}'
SEND = '{"type":"send","id":4,"chatId":"vKTiXuuQG_oNbG95O_OGsA","clientMsgId":"c-17","body":"hi \u00e9"}'

# ws_codec_fuzz (byte 0: read size in bits 1..7, bit 0 the small limit). Each seed is named for what it
# shows; a few show a difference between ws_codec and beast that the fuzz
# body tolerates (their names say which rule: see ws_codec_fuzz.cc).
ZERO = b"\0\0\0\0"  # a zero key leaves the payload as it is: easier to mutate
CLOSE_1000 = struct.pack(">H", 1000)

WS_CODEC = {
    "text": ws_control(0) + frame(1, HELLO),
    "text_one_byte_reads": ws_control(1 << 1) + frame(1, HELLO),
    "text_zero_key": ws_control(0) + frame(1, SEND, mask=ZERO),
    "two_messages_reads_of_5": ws_control(5 << 1) + frame(1, HELLO) + frame(1, SEND),
    "fragmented_ping_pong_between": ws_control(3 << 1)
    + frame(1, '{"type":"ack",', fin=False)
    + frame(9, "p1")
    + frame(0, '"upTo"', fin=False)
    + frame(10, "")
    + frame(0, ":43}"),
    "empty_fragments": ws_control(0)
    + frame(1, "", fin=False)
    + frame(0, "", fin=False)
    + frame(0, "ok"),
    "utf8_split_over_fragments": ws_control(0)
    + frame(1, b"caf\xc3", fin=False, mask=ZERO)
    + frame(0, b"\xa9 \xf0\x9f", fin=False, mask=ZERO)
    + frame(0, b"\x98\x80", mask=ZERO),
    "utf8_split_over_reads": ws_control(1 << 1)
    + frame(1, "h\u00e9 \u20ac \U0001F600 \u07ff \uffff \U0010FFFF", mask=ZERO),
    "utf8_bad": ws_control(0) + frame(1, b'{"body":"\xc3\x28"}', mask=ZERO),
    "utf8_surrogate": ws_control(0) + frame(1, b"a\xed\xa0\x80", mask=ZERO),
    "utf8_overlong": ws_control(0) + frame(1, b"a\xc0\xaf \xe0\x80\xaf", mask=ZERO),
    "utf8_past_10ffff": ws_control(0) + frame(1, b"a\xf4\x90\x80\x80", mask=ZERO),
    "utf8_cut_at_end": ws_control(0) + frame(1, b"abc\xe2\x82", mask=ZERO),
    "utf8_cut_before_empty_fragment__beast_unchecked_utf8": ws_control(0)
    + frame(1, b"abc\xe2\x82", fin=False, mask=ZERO)
    + frame(0, b"", mask=ZERO)
    + frame(1, b"\xac", mask=ZERO),
    "utf8_bad_in_frame_cut_short__early_utf8": ws_control(4 << 1)
    + frame(1, b"\xff" + b"a" * 60, mask=ZERO)[:40],
    "len16_text": ws_control(7 << 1) + frame(1, '"' + "x" * 298 + '"'),
    "len16_over_small_limit": ws_control(1) + frame(1, "x" * 300),
    "len7_over_small_limit": ws_control(1) + frame(1, "y" * 101),
    "fragments_over_small_limit": ws_control(1)
    + frame(1, "a" * 60, fin=False)
    + frame(0, "b" * 60),
    "len64_cut_short": ws_control(0) + frame(1, "z" * 65536)[:120],
    "len64_huge": ws_control(0) + bytes([0x81, 0xFF]) + struct.pack(">Q", 1 << 40) + MASK + b"abcd",
    "len64_top_bit__length_top_bit": ws_control(0)
    + frame(1, "x" * 3, fin=False)
    + bytes([0x80, 0xFF]) + struct.pack(">Q", (1 << 63) | 5) + MASK + b"abcde",
    "len16_not_shortest": ws_control(0) + frame(1, "short", length_form=126),
    "len64_not_shortest": ws_control(0) + frame(1, "x" * 200, length_form=127),
    "rsv1_text": ws_control(0) + frame(1, "deflated?", rsv=0x40),
    "rsv3_ping": ws_control(0) + frame(9, "p", rsv=0x10),
    "rsv2_continuation": ws_control(0) + frame(1, "a", fin=False) + frame(0, "b", rsv=0x20),
    "binary": ws_control(0) + frame(2, b"\x00\x01\x02\xff"),
    "binary_unmasked__binary_at_header": ws_control(0) + frame(2, b"\x00\x01", mask=None),
    "binary_over_small_limit__binary_at_header": ws_control(1) + frame(2, b"\x00" * 200),
    "binary_header_cut__binary_at_header": ws_control(0) + frame(1, "hi") + frame(2, "abc")[:3],
    "binary_inside_fragmented": ws_control(0) + frame(1, "a", fin=False) + frame(2, "b"),
    "text_inside_fragmented": ws_control(0) + frame(1, "a", fin=False) + frame(1, "b"),
    "continuation_first": ws_control(0) + frame(0, "x"),
    "unmasked": ws_control(0) + frame(1, HELLO, mask=None),
    "unmasked_header_cut__early_header": ws_control(0) + b"\x81\x7e\x00",
    "reserved_opcode_3": ws_control(0) + frame(3, "x"),
    "reserved_opcode_11": ws_control(0) + frame(11, "x"),
    "ping_125": ws_control(0) + frame(9, "p" * 125),
    "ping_126": ws_control(0) + frame(9, "p" * 126),
    "ping_fragmented": ws_control(0) + frame(9, "x", fin=False),
    "ping_cut_short": ws_control(0) + frame(9, "hello")[:8],
    "pong_unsolicited": ws_control(0) + frame(10, "pong"),
    "close_with_reason": ws_control(0) + frame(8, CLOSE_1000 + "bye \u00e9".encode()),
    "close_empty_then_text": ws_control(0) + frame(8, b"") + frame(1, "after"),
    "close_one_byte": ws_control(0) + frame(8, b"\x03"),
    "close_code_1005": ws_control(0) + frame(8, struct.pack(">H", 1005)),
    "close_code_3000": ws_control(0) + frame(8, struct.pack(">H", 3000) + b"app"),
    "close_code_5000__close_code_over_4999": ws_control(0) + frame(8, struct.pack(">H", 5000)),
    "close_reason_bad_utf8__close_reason_utf8": ws_control(0)
    + frame(8, CLOSE_1000 + b"\xc3\x28", mask=ZERO),
    "close_reason_123_bytes": ws_control(0) + frame(8, CLOSE_1000 + ("\u00e9" * 61 + "x").encode()),
}


def request(start, headers, body=b""):
    if isinstance(body, str):
        body = body.encode()
    lines = [start] + [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def json_post(target, body, extra=()):
    return request(
        f"POST {target} HTTP/1.1",
        [("Host", "127.0.0.1:8080"), ("Content-Type", "application/json"),
         ("Content-Length", str(len(body)))] + list(extra),
        body,
    )


REGISTER = json_post("/v1/register", '{"user":"alice","password":"alicepass1"}')
def chunked(*chunks):
    """A chunked body: each chunk with its size (one with an extension),
    then the last chunk and a trailer."""
    out = b""
    for i, chunk in enumerate(chunks):
        out += f"{len(chunk):x}{';ext=1' if i == 1 else ''}\r\n".encode() + chunk + b"\r\n"
    return out + b"0\r\nTrailer-X: 1\r\n\r\n"


CHUNKED_LOGIN = request(
    "POST /v1/login HTTP/1.1",
    [("Host", "127.0.0.1:8080"), ("Transfer-Encoding", "chunked")],
    chunked(b'{"user":"alice",', b'"password":"alicepass1","devic', b'e":"laptop"}  '),
)

HTTP = {
    "register_then_health": b"\x00" + REGISTER + request("GET /healthz HTTP/1.1", [("Host", "h")]),
    "register_split_reads": b"\x05" + REGISTER,
    "list_clients": b"\x00" + request(
        "GET /v1/clients HTTP/1.1",
        [("Host", "127.0.0.1:8080"), ("Authorization", "Bearer k1Xb3Qm9fZ0pW7eYtR2sVg")]),
    "delete_client_close": b"\x00" + request(
        "DELETE /v1/clients/7bi5Xq_- HTTP/1.1",
        [("Host", "h"), ("Authorization", "bearer t"), ("Connection", "close")]),
    "websocket_upgrade": b"\x00" + request(
        "GET /v1/ws?v=1 HTTP/1.1",
        [("Host", "127.0.0.1:8080"), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
         ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "13")]),
    "chunked_login": b"\x03" + CHUNKED_LOGIN,
    "body_over_limit": b"\x00" + request(
        "POST /v1/login HTTP/1.1", [("Host", "h"), ("Content-Length", "70000")], "{}"),
    "blob_put": b"\x00" + request(
        "PUT /blobs/wpQmf2eevpHb67Mz3quFZQ?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Date=20261128T083516Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host"
        "&X-Amz-Signature=00 HTTP/1.1",
        [("Host", "127.0.0.1:8080"), ("Content-Type", "image/png"), ("Content-Length", "4"),
         ("x-amz-checksum-sha256", "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=")],
        b"\x89PNG"),
    "http10_metrics": b"\x00" + request("GET /metrics HTTP/1.0", [("Host", "h")]),
    "escaped_target": b"\x00" + request(
        "GET /v1/clients/a%2Fb%20c?x=%41&y=&&z HTTP/1.1", [("Host", "h")]),
    "absolute_target": b"\x00" + request("GET http://h/healthz HTTP/1.1", [("Host", "h")]),
    "folded_and_duplicate_headers": b"\x00" + request(
        "POST /v1/register HTTP/1.1",
        [("Host", "h"), ("Content-Length", "2"), ("Content-Length", "2"),
         ("X-Long", "a" * 200)], "{}"),
}


def write(name, seeds):
    directory = os.path.join(HERE, "corpus", name)
    os.makedirs(directory, exist_ok=True)
    for seed, data in seeds.items():
        with open(os.path.join(directory, seed), "wb") as f:
            f.write(data)


write("ws_codec_fuzz", WS_CODEC)
write("http_fuzz", HTTP)
