# SPDX-License-Identifier: MIT
"""Differential test of the HTTP/1.1 request parser against llhttp (Node.js's parser,
through the ``httptools`` package).

Each input (generated requests, and mutations of them, one or two pipelined) is sent to
a real pymongoose server, whose handler answers every request with its method, body
length and body CRC, and fed to ``httptools.HttpRequestParser``. The framing decisions
must agree: which requests are accepted, where each ends (its body length and bytes),
and whether the input is rejected. Every disagreement must be one of the deliberate
differences of docs/conformance.md ("HTTP request parsing against llhttp"), each named
below with its RFC section; anything else fails with the input that showed it.

Bounded: derandomized hypothesis (the same examples every run), a few hundred examples,
well under a minute.
"""

from __future__ import annotations

import re
import socket
import zlib
from dataclasses import dataclass, field

import pytest

httptools = pytest.importorskip("httptools")
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from mgtest_helpers import IS_REFERENCE, Server, connect, mg  # noqa: E402

pytestmark = pytest.mark.skipif(IS_REFERENCE, reason="differential test of our own parser")

SETTINGS = settings(max_examples=500, derandomize=True, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck), print_blob=True)


# --------------------------------------------------------------------------------------
# The two sides
# --------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What a parser decided for one input: the requests it accepted, in order, each as
    (method, body length, body CRC-32), and whether it rejected what followed them."""

    messages: list = field(default_factory=list)
    rejected: bool = False
    detail: str = ""

    def key(self):
        return (self.messages, self.rejected)


def answer(conn, ev, data):
    if ev == mg.MG_EV_HTTP_MSG:
        body = data.body_bytes
        conn.reply(200, f"{data.method} {len(body)} {zlib.crc32(body):08x}")


@pytest.fixture(scope="module")
def port():
    s = Server(answer).start()
    yield s.port
    problems = s.shutdown()
    assert not problems, problems


def parse_responses(raw: bytes) -> Outcome:
    """Our server's answers: 200s carrying (method, length, crc), then maybe an error
    status (a 4xx/5xx the engine sent before closing)."""
    out = Outcome()
    while raw:
        head, sep, rest = raw.partition(b"\r\n\r\n")
        assert sep, f"truncated response {raw[:200]!r}"
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ")[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        body, raw = rest[:length], rest[length:]
        if 100 <= status < 200:
            continue
        if status == 200:
            method, n, crc = body.decode().split(" ")
            out.messages.append((method, int(n), crc))
        else:
            out.rejected = True
            out.detail = f"{status} {body[:80]!r}"
            assert not raw, f"bytes after an error response: {raw[:100]!r}"
    return out


def ours(port: int, raw: bytes) -> Outcome:
    """Sends ``raw``, then a FIN, and reads every answer until the server closes."""
    with connect(port) as s:
        s.sendall(raw)
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            try:
                data = s.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            chunks.append(data)
    return parse_responses(b"".join(chunks))


def llhttp(raw: bytes) -> Outcome:
    """httptools' verdict on the same bytes. A request that does not keep the connection
    alive ends the comparison there: our server closes after answering it, and llhttp
    refuses data that follows it."""
    out = Outcome()
    body = bytearray()
    closed = False

    class Callbacks:
        def on_message_begin(self):
            body.clear()

        def on_body(self, chunk):
            body.extend(chunk)

        def on_message_complete(self):
            nonlocal closed
            if closed:
                return
            out.messages.append((parser.get_method().decode(), len(body), f"{zlib.crc32(body):08x}"))
            closed = not parser.should_keep_alive()

    parser = httptools.HttpRequestParser(Callbacks())
    try:
        parser.feed_data(raw)
    except httptools.HttpParserUpgrade:
        out.detail = "upgrade"
    except httptools.HttpParserError as e:
        if not closed:
            out.rejected = True
            out.detail = f"{type(e).__name__}: {e}"
    return out


# --------------------------------------------------------------------------------------
# Deliberate differences (docs/conformance.md): each a predicate over the input that
# names the rule, and the direction in which we differ.
# --------------------------------------------------------------------------------------

KNOWN_METHODS = {"GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "HEAD", "TRACE"}


def split_requests(raw: bytes):
    """Best-effort split of the input into (head, rest) of its first request, by the
    first empty line (CRLF or bare LF form)."""
    start = len(raw) - len(raw.lstrip(b"\r\n"))
    m = re.compile(rb"\r?\n\r?\n").search(raw, start)
    if not m:
        return raw, b""
    return raw[: m.end()], raw[m.end():]


def head_fields(head: bytes):
    lines = re.split(rb"\r?\n", head)
    return lines[0], [ln for ln in lines[1:] if ln]


def explain(parts: list, a: Outcome, b: Outcome) -> str | None:
    """Why ours (a) and llhttp (b) may differ on the requests ``parts`` (sent back to
    back), or None if they must not."""
    reasons, _ = explain_at(parts, a, b)
    return "; ".join(reasons) or None


def explain_at(parts: list, a: Outcome, b: Outcome) -> tuple[list, int]:
    """The deliberate differences present in the request where the two part ways, and
    its index."""
    # Only the request where they part matters; both framed the ones before it alike.
    k = 0
    while k < min(len(a.messages), len(b.messages)) and a.messages[k] == b.messages[k]:
        k += 1
    # RFC 9112 §9.6: a server that receives the "close" option MUST close after its
    # response, whatever else the Connection fields say; llhttp lets keep-alive win.
    if (0 < k == len(a.messages) <= len(parts) and not a.rejected and (len(b.messages) > k or b.rejected)
            and re.search(rb"(?im)^connection[ \t]*:[^\n]*\bclose\b", split_requests(parts[k - 1])[0])):
        return ["Connection: close wins over keep-alive (RFC 9112 §9.6)"], k - 1
    if k < min(len(a.messages), len(b.messages)) or k >= len(parts):
        return [], k  # both accepted a request but framed it differently: never OK
    part = parts[k]
    head, after = split_requests(part.lstrip(b"\r\n"))
    request_line, fields = head_fields(head)
    names = [f.split(b":", 1)[0].strip().lower() for f in fields]
    values: dict = {}
    for f, n in zip(fields, names):
        values.setdefault(n, []).append(f.split(b":", 1)[1].strip() if b":" in f else b"")
    method = request_line.split(b" ")[0].decode("latin-1")
    we_accept, they_accept = len(a.messages) > k, len(b.messages) > k
    # "lenient": we take (or wait for more of) what llhttp refuses; "strict": we refuse
    # what llhttp takes or waits for. One taking a request the other waits for is never OK.
    lenient = b.rejected and not they_accept and (we_accept or not a.rejected)
    strict = a.rejected and not we_accept and (they_accept or not b.rejected)
    reasons = []
    if lenient:
        # RFC 9112 §2.2: a recipient MAY take a bare LF as a line terminator (head only).
        if re.search(rb"(?<!\r)\n", head):
            reasons.append("bare LF in the head (RFC 9112 §2.2)")
        # RFC 9110 §9.1: methods are extensible tokens; llhttp knows a fixed list.
        if method not in KNOWN_METHODS:
            reasons.append("method token llhttp does not know (RFC 9110 §9.1)")
        # RFC 9110 §8.6: identical Content-Length values (a list or repeated fields).
        cls = values.get(b"content-length", [])
        if len(cls) > 1 or any(b"," in v for v in cls):
            reasons.append("identical Content-Length values (RFC 9110 §8.6)")
        # RFC 9110 §6.5.1-6.5.2: trailers are discarded, so framing fields there are moot.
        if re.search(rb"(?im)^(content-length|transfer-encoding)[ \t]*:", after):
            reasons.append("framing field in the trailer section (RFC 9110 §6.5)")
        # RFC 9110 §2.5: any HTTP/1.<digit> is served as 1.1 (llhttp knows 1.0 and 1.1).
        if re.search(rb" HTTP/1\.[2-9]\r?$", request_line):
            reasons.append("HTTP/1.x minor version above 1 (RFC 9110 §2.5)")
        # Field semantics (Content-Length, Host, Transfer-Encoding) are judged once the
        # head is complete; llhttp judges each field line as it ends. Same verdict later.
        if not we_accept and not a.rejected and not re.search(rb"\r?\n\r?\n", part.lstrip(b"\r\n")):
            reasons.append("head not complete: fields judged at its end")
        # RFC 9112 §7.1.1: chunk-ext = *( BWS ";" ... ): whitespace may precede ";".
        if re.search(rb"(?:^|\n)[0-9a-fA-F]+[ \t]+;", after):
            reasons.append("whitespace before a chunk extension (RFC 9112 §7.1.1)")
    if strict:
        # RFC 9112 §2.2: a bare CR MUST be treated as invalid (or replaced by SP); llhttp
        # skips one before a request line.
        if re.search(rb"\r(?!\n)", part.split(b"\r\n\r\n")[0]):
            reasons.append("bare CR (RFC 9112 §2.2)")
        version = request_line.rsplit(b" ", 1)[-1]
        # RFC 9112 §3: exactly one SP between the three parts of the request line (the
        # MAY of whitespace-delimited parsing is declined: smuggling), so neither a
        # repeated SP nor an HTTP/0.9 line without a version is taken.
        if request_line.count(b" ") != 2 or b"  " in request_line:
            reasons.append("request line not three parts separated by one SP (RFC 9112 §3)")
        hosts = values.get(b"host", [])
        # RFC 9112 §3.2: a server MUST answer 400 to HTTP/1.1 without Host, or with two.
        if (version == b"HTTP/1.1" and not hosts) or len(hosts) > 1:
            reasons.append("Host missing or repeated (RFC 9112 §3.2)")
        # RFC 9112 §6.1: only a lone "chunked" coding is supported (501 otherwise), and
        # Transfer-Encoding in HTTP/1.0 is a framing fault (400).
        te = values.get(b"transfer-encoding", [])
        if te and (len(te) > 1 or te[0].lower() != b"chunked" or version == b"HTTP/1.0"):
            reasons.append("Transfer-Encoding other than one chunked, or in HTTP/1.0 (RFC 9112 §6.1)")
        # RFC 9112 §3.2.4: the asterisk-form is for OPTIONS only.
        target = request_line.split(b" ")[1] if request_line.count(b" ") >= 2 else b""
        if target == b"*" and method != "OPTIONS":
            reasons.append("asterisk-form only with OPTIONS (RFC 9112 §3.2.4)")
    return reasons, k


def _head_sub(pattern: bytes, repl: bytes, flags=0):
    def fix(part: bytes) -> bytes:
        head, after = split_requests(part)
        return re.sub(pattern, repl, head, flags=flags) + after
    return fix


def _body_sub(pattern: bytes, repl: bytes, flags=0):
    def fix(part: bytes) -> bytes:
        head, after = split_requests(part)
        return head + re.sub(pattern, repl, after, flags=flags)
    return fix


def _one_content_length(part: bytes) -> bytes:
    head, after = split_requests(part)
    lines = re.split(rb"(?<=\n)", head)
    out, seen = [], False
    for line in lines:
        if re.match(rb"(?i)content-length[ \t]*:", line):
            if seen:
                continue
            seen = True
            line = re.sub(rb",[^\r\n]*", b"", line)
        out.append(line)
    return b"".join(out) + after


def _one_host(part: bytes) -> bytes:
    head, after = split_requests(part)
    lines = re.split(rb"(?<=\n)", head)
    hosts = [i for i, line in enumerate(lines) if re.match(rb"(?i)host[ \t]*:", line)]
    for i in reversed(hosts[1:]):
        del lines[i]
    if not hosts:
        first = next((i for i, line in enumerate(lines) if line.strip(b"\r\n")), 0)
        lines.insert(first + 1, b"Host: h\r\n")
    return b"".join(lines) + after


# A difference is only accepted when it is the whole story: the input is rewritten
# without it (e.g. CRLF for the bare LFs) and the two must then agree, or differ for
# another listed reason. Differences without a rewrite here end the comparison.
NORMALIZE = {
    "bare LF": _head_sub(rb"(?<!\r)\n", b"\r\n"),
    "method token": _head_sub(rb"^([\r\n]*)[^ \r\n]+", rb"\1POST"),
    "identical Content-Length": _one_content_length,
    "framing field in the trailer": _body_sub(rb"(?im)^(content-length|transfer-encoding)", rb"X-\1"),
    "HTTP/1.x minor": _head_sub(rb"^([^\r\n]* HTTP/1\.)[2-9]", rb"\g<1>1"),
    "whitespace before a chunk": _body_sub(rb"(?m)^([0-9a-fA-F]+)[ \t]+;", rb"\1;"),
    "bare CR": _head_sub(rb"\r(?!\n)", b""),
    "request line not three": _head_sub(rb"^([\r\n]*[^ \r\n]+) +([^ \r\n]+) +", rb"\1 \2 "),
    "Host missing": _one_host,
    "Connection: close wins": _head_sub(rb"(?im)^connection[ \t]*:[^\r\n]*close[^\r\n]*\r?\n", b""),
    "head not complete": lambda part: part + b"\r\n\r\n",
    "asterisk-form": _head_sub(rb"^([\r\n]*[^ \r\n]+) \* ", rb"\1 / "),
}


# --------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------

METHODS = ["GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "PROPFIND2"]
TARGETS = [b"/", b"/a/b", b"/q?x=1&y=%20", b"*", b"http://example.com/p", b"/%C3%A9"]
VERSIONS = [b"HTTP/1.1", b"HTTP/1.1", b"HTTP/1.0", b"HTTP/1.2"]
EOLS = [b"\r\n"] * 8 + [b"\n"]
CL_FORMS = ["{n}", "{n}", "{n}, {n}", " {n} ", "+{n}", "0{n}", "{n}, {m}", "{n}x", ""]
TE_FORMS = ["chunked", "chunked", "Chunked", "gzip, chunked", "chunked, chunked", "identity", " chunked"]
EXTRA = [(b"Accept", b"*/*"), (b"X-Obs", b"caf\xc3\xa9"), (b"Connection", b"close"),
         (b"Connection", b"keep-alive"), (b"X-Empty", b""), (b"Cookie", b"a=b; c=d"),
         (b"X-Tab", b"a\tb"), (b"Expect", b"100-continue")]


@st.composite
def chunked_body(draw, data: bytes) -> bytes:
    eol = draw(st.sampled_from(EOLS))
    out = b""
    pos = 0
    while pos < len(data):
        n = draw(st.integers(1, max(1, len(data) - pos)))
        size = draw(st.sampled_from(["{:x}", "{:X}", "0{:x}"])).format(n).encode()
        ext = draw(st.sampled_from([b"", b"", b";a=b", b';q="x y"', b" ;e"]))
        out += size + ext + eol + data[pos:pos + n] + b"\r\n"
        pos += n
    out += b"0" + draw(st.sampled_from([b"", b";z"])) + eol
    trailers = draw(st.lists(st.sampled_from([b"X-T: 1", b"Content-Length: 9",
                                              b"Transfer-Encoding: chunked", b"Expires: 0"]),
                             max_size=2))
    for t in trailers:
        out += t + draw(st.sampled_from(EOLS))
    return out + eol


@st.composite
def request(draw) -> bytes:
    method = draw(st.sampled_from(METHODS)).encode()
    target = draw(st.sampled_from(TARGETS))
    version = draw(st.sampled_from(VERSIONS))
    eol = lambda: draw(st.sampled_from(EOLS))  # noqa: E731
    head = draw(st.sampled_from([b"", b"", b"\r\n"])) + method + b" " + target + b" " + version + eol()
    fields = []
    hosts = draw(st.sampled_from([1, 1, 1, 0, 2]))
    fields += [(b"Host", b"example.com")] * hosts
    fields += draw(st.lists(st.sampled_from(EXTRA), max_size=3))
    data = draw(st.binary(max_size=40))
    framing = draw(st.sampled_from(["none", "cl", "cl", "te", "te", "both"]))
    body = b""
    if framing in ("cl", "both"):
        form = draw(st.sampled_from(CL_FORMS))
        fields.append((b"Content-Length", form.format(n=len(data), m=len(data) + 1).encode()))
        if draw(st.booleans()) and form == "{n}":
            fields.append((b"Content-Length", str(len(data)).encode()))
        body = data
    if framing in ("te", "both"):
        fields.append((b"Transfer-Encoding", draw(st.sampled_from(TE_FORMS)).encode()))
        body = draw(chunked_body(data))
    fields = draw(st.permutations(fields))
    for name, value in fields:
        sep = draw(st.sampled_from([b": ", b": ", b":", b":\t", b": "]))
        head += name + sep + value + draw(st.sampled_from([b"", b"", b" "])) + eol()
    return head + eol() + body


INTERESTING = b"\r\n \t:;,\x00\x7f\x80\"0aZ/"


@st.composite
def mutated(draw) -> bytes:
    raw = bytearray(draw(request()))
    for _ in range(draw(st.integers(1, 3))):
        if not raw:
            break
        at = draw(st.integers(0, len(raw) - 1))
        op = draw(st.sampled_from(["insert", "delete", "replace"]))
        byte = draw(st.sampled_from(list(INTERESTING)))
        if op == "insert":
            raw.insert(at, byte)
        elif op == "delete":
            del raw[at]
        else:
            raw[at] = byte
    return bytes(raw)


def compare(port: int, parts: list, seen: dict, depth: int = 0) -> None:
    raw = b"".join(parts)
    a = ours(port, raw)
    b = llhttp(raw)
    if a.key() == b.key():
        seen["agree"] = seen.get("agree", 0) + 1
        return
    reasons, k = explain_at(parts, a, b)
    assert reasons, (
        f"pymongoose and llhttp disagree on {raw!r}\n"
        f"  pymongoose: {a.messages} rejected={a.rejected} {a.detail}\n"
        f"  llhttp:     {b.messages} rejected={b.rejected} {b.detail}")
    for why in reasons:
        seen[why] = seen.get(why, 0) + 1
    fixes = [fix for why in reasons for key, fix in NORMALIZE.items() if why.startswith(key)]
    if len(fixes) < len(reasons) or depth >= 4:
        return  # a difference that cannot be rewritten away: it ends the comparison
    part = parts[k]
    for fix in fixes:
        part = fix(part)
    if part != parts[k]:
        compare(port, parts[:k] + [part] + parts[k + 1:], seen, depth + 1)


# --------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------


def test_generated_requests_are_framed_like_llhttp(port):
    """Well-formed and deliberately odd requests (every Content-Length and
    Transfer-Encoding form, chunk extensions, trailers, LF line ends, Host counts)."""
    seen: dict = {}

    @SETTINGS
    @given(st.lists(request(), min_size=1, max_size=2))
    def check(parts):
        compare(port, parts, seen)

    check()
    assert seen.get("agree", 0) > 100, seen


def test_mutated_requests_are_framed_like_llhttp(port):
    """The same requests with one to three bytes inserted, deleted or replaced by
    delimiters, controls and obs-text."""
    seen: dict = {}

    @SETTINGS
    @given(st.tuples(mutated()) | st.tuples(request(), mutated()))
    def check(parts):
        compare(port, list(parts), seen)

    check()
    assert seen.get("agree", 0) > 100, seen


@pytest.mark.parametrize("raw, difference", [
    (b"GET / HTTP/1.1\nHost: a\n\n", "bare LF in the head"),
    (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2, 2\r\n\r\nok", "identical Content-Length"),
    (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
     "identical Content-Length"),
    (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n"
     b"Content-Length: 5\r\n\r\n", "framing field in the trailer"),
    (b"GET / HTTP/1.1\r\n\r\n", "Host missing"),
    (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "Host missing or repeated"),
    (b"\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", "bare CR"),
    (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", "Transfer-Encoding"),
    (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "Transfer-Encoding"),
    (b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", "asterisk-form"),
    (b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", "request line not three parts"),
    (b"GET / HTTP/1.2\r\nHost: a\r\n\r\n", "minor version"),
    (b"PROPFIND2 / HTTP/1.1\r\nHost: a\r\n\r\n", "method token"),
    (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2 ;x\r\nok\r\n0\r\n\r\n",
     "whitespace before a chunk extension"),
    (b"GET / HTTP/1.0\r\nConnection: close\r\nConnection: keep-alive\r\n\r\n"
     b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", "Connection: close wins"),
])
def test_deliberate_differences_are_still_there(port, raw, difference):
    """The documented differences, one input each: if one disappears, the documentation
    (docs/conformance.md) is wrong."""
    a, b = ours(port, raw), llhttp(raw)
    assert a.key() != b.key()
    assert difference in (explain([raw], a, b) or "")


def test_obs_fold_is_refused_by_both(port):
    """RFC 9112 §5.2: a folded field line is a 400 (we never unfold); llhttp agrees."""
    raw = b"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n  2\r\n\r\n"
    a, b = ours(port, raw), llhttp(raw)
    assert a.rejected and not a.messages and a.detail.startswith("400")
    assert b.rejected and not b.messages


def test_bare_lf_in_chunked_framing_is_refused_by_both(port):
    """Bare LF is a line end in the head only (RFC 9112 §2.2); inside a chunked body
    (size lines, data ends, trailers) both parsers need CRLF."""
    for body in (b"2\nok\r\n0\r\n\r\n", b"2\r\nok\n0\r\n\r\n", b"2\r\nok\r\n0\r\nX: 1\n\r\n",
                 b"2\r\nok\r\n0\r\n\n"):
        raw = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + body
        a, b = ours(port, raw), llhttp(raw)
        assert a.rejected and not a.messages, (body, a)
        assert (b.rejected and not b.messages) or not b.messages, (body, b)
