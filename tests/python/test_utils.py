# SPDX-License-Identifier: MIT
"""Module functions of spec §4 (utilities) and Connection.http_basic_auth (§6.8).

Exact formats are checked against Python's own implementations where one exists
(hashlib, hmac, zlib, base64, urllib.parse, json) and against the spec's examples
verbatim; glob matching against a brute-force reference of the spec's semantics.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import math
import random
import socket
import string
import subprocess
import sys
import urllib.parse
import zlib

import pytest

import pymongoose
from pymongoose import _mongoose as mg

SEED = 20260415

FUNCTIONS = [
    "base64_decode", "base64_encode", "crc32", "hmac_sha256", "http_parse_multipart", "http_var",
    "json_get", "json_get_bool", "json_get_long", "json_get_num", "json_get_str", "log_get",
    "log_set", "match", "md5", "random_bytes", "random_str", "sha1", "sha256", "url_encode",
    "url_host", "url_is_ssl", "url_pass", "url_port", "url_uri", "url_user",
]


def test_exported_everywhere():
    for name in FUNCTIONS:
        assert name in mg.__all__ and name in pymongoose.__all__, name
        assert getattr(pymongoose, name) is getattr(mg, name)


# ---- §1.4 "data" arguments ---------------------------------------------------------------

DATA_FUNCS = [
    lambda d: mg.md5(d), lambda d: mg.sha1(d), lambda d: mg.sha256(d), lambda d: mg.crc32(d),
    lambda d: mg.base64_encode(d), lambda d: mg.hmac_sha256(d, d), lambda d: mg.hmac_sha256(b"k", d),
    lambda d: mg.json_get(d, "$"), lambda d: mg.http_var(d, "a"), lambda d: mg.http_parse_multipart(d),
]


@pytest.mark.parametrize("fn", DATA_FUNCS)
def test_data_arguments_accept_str_and_buffers(fn):
    raw = b'{"a":1}\xff'
    assert fn(raw) == fn(bytearray(raw)) == fn(memoryview(raw)) == fn(raw.decode("utf-8", "surrogateescape"))
    assert fn("é") == fn("é".encode())


@pytest.mark.parametrize("fn", DATA_FUNCS)
@pytest.mark.parametrize("bad", [1, None, 1.5, ["a"], object()])
def test_data_arguments_reject_other_types(fn, bad):
    with pytest.raises(TypeError):
        fn(bad)


@pytest.mark.parametrize(
    "call",
    [
        lambda: mg.base64_decode(b"aGk="), lambda: mg.url_encode(b"a"), lambda: mg.url_host(b"http://a"),
        lambda: mg.url_port(None), lambda: mg.url_uri(1), lambda: mg.url_user(b""), lambda: mg.url_pass(b""),
        lambda: mg.url_is_ssl(b"https://a"), lambda: mg.match(b"a", "a"), lambda: mg.match("a", b"a"),
        lambda: mg.json_get("{}", b"$"), lambda: mg.http_var("a=1", b"a"), lambda: mg.log_set("1"),
        lambda: mg.log_set(1.0), lambda: mg.random_bytes(1.0), lambda: mg.random_str("3"),
        lambda: mg.crc32(b"", 1.0), lambda: mg.http_parse_multipart(b"", "0"),
        lambda: mg.json_get_long("1", "$", "x"),
    ],
)
def test_str_and_int_parameters_are_strict(call):
    with pytest.raises(TypeError):
        call()


# ---- hashes ------------------------------------------------------------------------------

def _samples():
    rnd = random.Random(SEED)
    sizes = [0, 1, 3, 55, 56, 63, 64, 65, 127, 128, 1000, 65535, 65536, 200000]
    return [bytes(rnd.getrandbits(8) for _ in range(n)) if n < 5000 else rnd.randbytes(n) for n in sizes]


@pytest.mark.parametrize("name,size", [("md5", 16), ("sha1", 20), ("sha256", 32)])
def test_digests_equal_hashlib(name, size):
    fn = getattr(mg, name)
    for data in _samples():
        out = fn(data)
        assert isinstance(out, bytes) and len(out) == size
        assert out == hashlib.new(name, data).digest(), len(data)
    assert fn("héllo") == hashlib.new(name, "héllo".encode()).digest()
    assert fn("\udcff") == hashlib.new(name, b"\xff").digest()  # surrogateescape


def test_hmac_sha256_equals_hmac_module():
    samples = _samples()
    keys = [b"", b"k", b"Jefe", b"\x0b" * 20, b"\xaa" * 131, samples[-1][:4096]]
    for key in keys:
        for data in samples:
            assert mg.hmac_sha256(key, data) == hmac.new(key, data, "sha256").digest()
    assert mg.hmac_sha256("clé", "msg") == hmac.new("clé".encode(), b"msg", "sha256").digest()


def test_crc32_equals_zlib():
    for data in _samples():
        assert mg.crc32(data) == zlib.crc32(data)
        for init in (1, 0xDEADBEEF, 0xFFFFFFFF):
            assert mg.crc32(data, init) == zlib.crc32(data, init)
    assert mg.crc32(b"lo", mg.crc32(b"hel")) == mg.crc32(b"hello") == zlib.crc32(b"hello")
    assert mg.crc32(b"") == 0
    assert mg.crc32(b"123456789") == 0xCBF43926
    assert mg.crc32(b"x", initial=5) == zlib.crc32(b"x", 5)


def test_crc32_initial_range():
    with pytest.raises(OverflowError):
        mg.crc32(b"a", -1)
    with pytest.raises(OverflowError):
        mg.crc32(b"a", 2**32)


# ---- base64 ------------------------------------------------------------------------------

def test_base64_encode_equals_base64_module():
    for data in _samples():
        out = mg.base64_encode(data)
        assert isinstance(out, str)
        assert out == base64.b64encode(data).decode()
    assert mg.base64_encode(b"") == ""
    assert mg.base64_encode("hello") == "aGVsbG8="


def test_base64_decode():
    for data in _samples():
        assert mg.base64_decode(base64.b64encode(data).decode()) == data
    assert mg.base64_decode("") == b""
    assert mg.base64_decode("aGVsbG8=") == b"hello"
    assert mg.base64_decode("aGVsbA==") == b"hell"
    # A trailing incomplete quartet is ignored.
    assert mg.base64_decode("aGVsbG") == b"hel"
    assert mg.base64_decode("aGVsbG8") == b"hel"
    assert mg.base64_decode("a") == b""
    # Any invalid character gives b"".
    for bad in ["aGV*bG8=", "aGVs bG8=", "aGVsbG8=\n", "aGVs-G8=", "aGVs_G8=", "é", "aG=sbG8=", "aGVsbA==aGVs", "=AAA"]:
        assert mg.base64_decode(bad) == b"", bad


def test_basic_auth_value_matches_base64_module():
    assert mg.base64_encode("user:pass") == base64.b64encode(b"user:pass").decode()


# ---- random ------------------------------------------------------------------------------

def test_random_bytes():
    assert mg.random_bytes(0) == b""
    for n in (1, 16, 1000, 1 << 20):
        b = mg.random_bytes(n)
        assert isinstance(b, bytes) and len(b) == n
    assert mg.random_bytes(32) != mg.random_bytes(32)
    big = mg.random_bytes(1 << 16)
    assert len(set(big)) == 256
    with pytest.raises(OverflowError):
        mg.random_bytes(-1)
    with pytest.raises(OverflowError):
        mg.random_bytes(2**70)


def test_random_str():
    alphabet = set(string.ascii_letters + string.digits)
    assert mg.random_str(0) == ""
    for n in (1, 10, 62, 5000):
        s = mg.random_str(n)
        assert isinstance(s, str) and len(s) == n and set(s) <= alphabet
    s = mg.random_str(62 * 500)
    assert set(s) == alphabet
    assert mg.random_str(20) != mg.random_str(20)
    with pytest.raises(OverflowError):
        mg.random_str(-5)


# ---- millis / log ------------------------------------------------------------------------

def test_log_level_is_none_at_import():
    code = "import pymongoose as p; print(p.log_get(), p.MG_LL_NONE)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["0", "0"]
    assert out.stderr == ""


def test_log_set_get():
    saved = mg.log_get()
    try:
        for level in (mg.MG_LL_NONE, mg.MG_LL_ERROR, mg.MG_LL_INFO, mg.MG_LL_DEBUG, mg.MG_LL_VERBOSE):
            assert mg.log_set(level) is None
            assert mg.log_get() == level
        for bad in (-1, 5, 100, 2**80, -(2**80)):
            with pytest.raises(ValueError):
                mg.log_set(bad)
        assert mg.log_get() == mg.MG_LL_VERBOSE
    finally:
        mg.log_set(saved)


# ---- json_get* -----------------------------------------------------------------------------

SPEC_DOC = '{"name": "Alice", "age": 30, "pi": 3.14, "neg": -99, "ok": true, "no": false, "nil": null,' \
           ' "list": [1, {"b": "x"}], "obj": {"a": {"b": [10, 20]}}, "q": "42"}'


def test_json_get_spec_examples():
    assert mg.json_get(SPEC_DOC, "$.name") == '"Alice"'
    assert mg.json_get(SPEC_DOC, "$.age") == "30"
    assert mg.json_get(SPEC_DOC, "$.obj") == '{"a": {"b": [10, 20]}}'
    assert mg.json_get(SPEC_DOC, "$.list[1].b") == '"x"'
    assert mg.json_get(SPEC_DOC, "$.obj.a.b[1]") == "20"
    assert mg.json_get(SPEC_DOC, "$") == SPEC_DOC
    assert mg.json_get(SPEC_DOC, "$.missing") is None
    assert mg.json_get(SPEC_DOC, "$.list[2]") is None
    assert mg.json_get('{"a": 1, oops}', "$.b") is None
    assert mg.json_get("not json", "$") is None
    assert mg.json_get('{"x": 01, "a": 1}', "$.a") is None  # invalid before the value


def test_json_get_num():
    assert mg.json_get_num(SPEC_DOC, "$.age") == 30.0
    assert isinstance(mg.json_get_num(SPEC_DOC, "$.age"), float)
    assert mg.json_get_num('{"v": 42}', "$.v") == 42.0
    assert mg.json_get_num(SPEC_DOC, "$.pi") == 3.14
    assert mg.json_get_num(SPEC_DOC, "$.q") is None  # a quoted number is not a number
    sentinel = object()
    assert mg.json_get_num(SPEC_DOC, "$.q", sentinel) is sentinel
    assert mg.json_get_num(SPEC_DOC, "$.missing", default=1.5) == 1.5
    assert mg.json_get_num(SPEC_DOC, "$.ok", "d") == "d"
    assert mg.json_get_num("[1e400]", "$[0]") == math.inf == json.loads("1e400")
    assert mg.json_get_num("[5e-324]", "$[0]") == 5e-324


def test_json_get_bool():
    assert mg.json_get_bool(SPEC_DOC, "$.ok") is True
    assert mg.json_get_bool(SPEC_DOC, "$.no") is False
    assert mg.json_get_bool(SPEC_DOC, "$.nil") is None
    assert mg.json_get_bool(SPEC_DOC, "$.age", "d") == "d"
    assert mg.json_get_bool(SPEC_DOC, "$.missing", default=True) is True


def test_json_get_long():
    assert mg.json_get_long(SPEC_DOC, "$.age") == 30
    assert mg.json_get_long(SPEC_DOC, "$.pi") == 3
    assert mg.json_get_long(SPEC_DOC, "$.neg") == -99
    assert mg.json_get_long("[-3.99]", "$[0]") == -3
    assert mg.json_get_long("[1e3]", "$[0]") == 1000
    assert mg.json_get_long(SPEC_DOC, "$.q") == 0
    assert mg.json_get_long(SPEC_DOC, "$.q", 7) == 7
    assert mg.json_get_long(SPEC_DOC, "$.missing", default=-1) == -1
    assert mg.json_get_long("[9223372036854775807]", "$[0]") == 2**63 - 1
    assert mg.json_get_long("[-9223372036854775808]", "$[0]") == -(2**63)
    assert mg.json_get_long("[9007199254740993]", "$[0]") == 9007199254740993  # exact, not via double
    assert mg.json_get_long("[99999999999999999999]", "$[0]") == 2**63 - 1  # saturates


def test_json_get_str():
    assert mg.json_get_str(SPEC_DOC, "$.name") == "Alice"
    assert mg.json_get_str(SPEC_DOC, "$.q") == "42"
    assert mg.json_get_str(SPEC_DOC, "$.age") is None
    assert mg.json_get_str(SPEC_DOC, "$.missing") is None
    doc = json.dumps({"s": "é€😀\n\t\"\\/\x00\x1f"}, ensure_ascii=True)
    assert "\\ud83d\\ude00" in doc
    assert mg.json_get_str(doc, "$.s") == "é€😀\n\t\"\\/\x00\x1f"  # D28: surrogate pairs
    assert mg.json_get_str(json.dumps({"s": "é€😀"}, ensure_ascii=False), "$.s") == "é€😀"
    assert mg.json_get_str(r'{"s": "\ud83d"}', "$.s") is None  # unpaired surrogate
    assert mg.json_get_str(r'{"s": "\q"}', "$.s") is None
    # Raw bytes that are not UTF-8 come back surrogate-escaped (round-trip).
    assert mg.json_get_str(b'{"s": "\xff"}', "$.s") == "\udcff"


def _random_value(rnd: random.Random, depth: int):
    kind = rnd.randrange(9 if depth < 4 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rnd.random() < 0.5
    if kind == 2:
        return rnd.choice([0, -1, 1, 2**53 + 1, -(2**63), 2**63 - 1, rnd.randrange(-10**12, 10**12)])
    if kind == 3:
        return rnd.choice([0.5, -2.25, 1e300, -1e-300, 3.141592653589793, rnd.uniform(-1e6, 1e6)])
    if kind in (4, 5):
        alphabet = "ab é€😀\"\\/\n\t\x01\u2028"
        return "".join(rnd.choice(alphabet) for _ in range(rnd.randrange(6)))
    if kind in (6, 7):
        return {_random_key(rnd): _random_value(rnd, depth + 1) for _ in range(rnd.randrange(4))}
    return [_random_value(rnd, depth + 1) for _ in range(rnd.randrange(4))]


def _random_key(rnd: random.Random) -> str:
    return "".join(rnd.choice("abcxyz_é😀\" \\") for _ in range(rnd.randrange(1, 5)))


def _paths(value, path="$"):
    yield path, value
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, f"{path}[{i}]")


def test_json_get_against_json_module():
    rnd = random.Random(SEED)
    checked = 0
    for _ in range(300):
        doc_value = {_random_key(rnd): _random_value(rnd, 0) for _ in range(rnd.randrange(1, 5))}
        seps = rnd.choice([(", ", ": "), (",", ":")])
        ascii_only = rnd.random() < 0.5
        doc = json.dumps(doc_value, separators=seps, ensure_ascii=ascii_only)
        data = doc if rnd.random() < 0.5 else doc.encode()
        for path, value in _paths(doc_value):
            raw = mg.json_get(data, path)
            assert raw == json.dumps(value, separators=seps, ensure_ascii=ascii_only), (doc, path)
            assert json.loads(raw) == value
            is_num = isinstance(value, (int, float)) and not isinstance(value, bool)
            assert mg.json_get_num(data, path) == (float(value) if is_num else None)
            assert mg.json_get_bool(data, path) == (value if isinstance(value, bool) else None)
            assert mg.json_get_str(data, path) == (value if isinstance(value, str) else None)
            if is_num:
                want = max(-(2**63), min(2**63 - 1, int(value)))  # int() truncates toward zero
                assert mg.json_get_long(data, path, 12345) == want, (raw, path)
            else:
                assert mg.json_get_long(data, path, 12345) == 12345
            checked += 1
        # Absent members and indexes.
        assert mg.json_get(data, "$.no such key") is None
        assert mg.json_get(data, "$[0]") is None
        # A truncated document never yields the root.
        assert mg.json_get(doc[: len(doc) // 2], "$") is None
    assert checked > 1000


# ---- url_* -----------------------------------------------------------------------------------

def test_url_spec_formats():
    assert mg.url_encode(" ") == "%20"
    assert mg.url_encode("@") == "%40"
    assert mg.url_encode("é") == "%c3%a9"
    assert mg.url_encode("") == ""
    assert mg.url_host("http://[::1]:8000/x") == "[::1]"
    assert mg.url_port("http://a") == 80 and mg.url_port("ws://a") == 80
    assert mg.url_port("https://a") == 443 and mg.url_port("wss://a") == 443
    assert mg.url_port("mqtt://a") == 1883 and mg.url_port("mqtts://a") == 8883
    assert mg.url_port("tcp://a") == 0 and mg.url_port("udp://a:53") == 53
    assert mg.url_port("http://a:8080/") == 8080
    assert mg.url_user("http://a") == "" and mg.url_pass("http://u@a") == ""
    assert mg.url_uri("http://a") == "/"
    assert mg.url_uri("http://a/b/c?d=1") == "/b/c?d=1"
    for u in ["https://a", "wss://a", "mqtts://a", "ssl://a", "tls://a", "tcps://a"]:
        assert mg.url_is_ssl(u) is True
    for u in ["http://a", "ws://a", "mqtt://a", "tcp://a", "HTTPS://a", "", "a"]:
        assert mg.url_is_ssl(u) is False


def test_url_port_not_a_port():
    for u in ["http://a:99999", "http://a:8o", "http://a:-1", "http://[::1]:x"]:
        assert mg.url_port(u) == 0


def test_url_encode_matches_urllib_quote():
    rnd = random.Random(SEED)
    alphabet = string.printable + "é€😀\udcff"
    for _ in range(500):
        s = "".join(rnd.choice(alphabet) for _ in range(rnd.randrange(20)))
        ref = urllib.parse.quote(s.encode("utf-8", "surrogateescape"), safe="")
        ref = "".join(c.lower() if i and ref[i - 1] == "%" or (i > 1 and ref[i - 2] == "%") else c
                      for i, c in enumerate(ref))
        assert mg.url_encode(s) == ref, s


def test_url_parts_match_urllib_split():
    rnd = random.Random(SEED)
    schemes = ["http", "https", "ws", "wss", "mqtt", "mqtts", "tcp", "udp"]
    defaults = {"http": 80, "ws": 80, "https": 443, "wss": 443, "mqtt": 1883, "mqtts": 8883}
    for _ in range(500):
        scheme = rnd.choice(schemes)
        host = rnd.choice(["example.com", "127.0.0.1", "h", "[::1]", "[2001:db8::7]", "a-b.c"])
        user = rnd.choice(["", "alice", "u%40x"])
        pw = rnd.choice(["", "secret", "p@ss", "a:b"]) if user else ""
        port = rnd.choice([None, 0, 1, 8080, 65535])
        path = rnd.choice(["", "/", "/a/b", "/x?y=1&z=2", "/p;q?r"])
        netloc = host if port is None else f"{host}:{port}"
        if user:
            netloc = f"{user}:{pw}@{netloc}" if pw else f"{user}@{netloc}"
        url = f"{scheme}://{netloc}{path}"
        ref = urllib.parse.urlsplit(url)
        want_host = f"[{ref.hostname}]" if ":" in (ref.hostname or "") else ref.hostname
        assert mg.url_host(url) == want_host, url
        assert mg.url_port(url) == (ref.port if ref.port is not None else defaults.get(scheme, 0)), url
        assert mg.url_user(url) == (ref.username or ""), url
        assert mg.url_pass(url) == (ref.password or ""), url
        want_uri = (ref.path or "/") + (f"?{ref.query}" if ref.query else "")
        assert mg.url_uri(url) == want_uri, url
        assert mg.url_is_ssl(url) is (scheme in ("https", "wss", "mqtts"))


# ---- match -------------------------------------------------------------------------------------

def test_match_spec_examples():
    assert mg.match("/api/users/42", "/api/*/??") == (True, ["users", "4", "2"])
    assert mg.match("foo/bar", "*") == (False, [])
    assert mg.match("/a/b/c.txt", "#.txt") == (True, ["/a/b/c"])
    assert mg.match("", "") == (True, [])


def test_match_details():
    assert mg.match("a.b.c", "*.*") == (True, ["a", "b.c"])
    assert mg.match("a/b/c", "#/*") == (True, ["a/b", "c"])
    assert mg.match("abc", "*?") == (True, ["ab", "c"])
    assert mg.match("café", "caf?") == (True, ["é"])
    assert mg.match("😀", "?") == (True, ["😀"])
    assert mg.match("\udcff\udcfe", "??") == (True, ["\udcff", "\udcfe"])
    assert mg.match("ABC", "abc") == (False, [])
    r = mg.match("x" * 50, "?" * 50)  # D28: no capture limit
    assert r == (True, ["x"] * 50)


def _ref_match(s: str, p: str):
    """Brute force: the first assignment in order of (len(capture 1), len(capture 2), ...)."""
    def go(i, j):
        if i == len(p):
            return [] if j == len(s) else None
        c = p[i]
        if c == "?":
            if j < len(s):
                rest = go(i + 1, j + 1)
                if rest is not None:
                    return [s[j]] + rest
            return None
        if c in "*#":
            k = j
            while True:
                rest = go(i + 1, k)
                if rest is not None:
                    return [s[j:k]] + rest
                if k == len(s) or (c == "*" and s[k] == "/"):
                    return None
                k += 1
        if j < len(s) and s[j] == c:
            return go(i + 1, j + 1)
        return None

    caps = go(0, 0)
    return (False, []) if caps is None else (True, caps)


def test_match_against_reference():
    rnd = random.Random(SEED)
    for _ in range(4000):
        s = "".join(rnd.choice("ab/é") for _ in range(rnd.randrange(7)))
        p = "".join(rnd.choice("ab/é?*#") for _ in range(rnd.randrange(6)))
        assert mg.match(s, p) == _ref_match(s, p), (s, p)


# ---- http_var ------------------------------------------------------------------------------------

def test_http_var():
    assert mg.http_var("a=1&b=2", "b") == "2"
    assert mg.http_var("Name=x%20y+z", "name") == "x%20y+z"  # case-insensitive name, raw value
    assert mg.http_var("a=&b=2", "a") == ""
    assert mg.http_var("a&b=2", "a") == ""
    assert mg.http_var("a=1", "c") is None
    assert mg.http_var("", "a") is None
    assert mg.http_var(b"", "a") is None
    assert mg.http_var(b"k=\xff", "k") == "\udcff"
    big = "k=" + "v" * 10000
    assert mg.http_var(big, "k") == "v" * 10000  # no size limit
    assert mg.http_var(bytearray(b"x=1&y=2"), "Y") == "2"


# ---- http_parse_multipart --------------------------------------------------------------------------

MULTIPART = (
    b"--XyZ\r\n"
    b'Content-Disposition: form-data; name="field1"\r\n'
    b"\r\n"
    b"value1\r\n"
    b"--XyZ\r\n"
    b'Content-Disposition: form-data; name="f"; filename="a.txt"\r\n'
    b"Content-Type: text/plain\r\n"
    b"\r\n"
    b"file\r\ncontent\r\n"
    b"--XyZ--\r\n"
)


def test_http_parse_multipart():
    off, part = mg.http_parse_multipart(MULTIPART)
    assert part == {"name": "field1", "filename": "", "body": b"value1"}
    assert MULTIPART[off:].startswith(b"--XyZ\r\n")
    off, part = mg.http_parse_multipart(MULTIPART, off)
    assert part == {"name": "f", "filename": "a.txt", "body": b"file\r\ncontent"}
    assert MULTIPART[off:].startswith(b"--XyZ--")
    assert mg.http_parse_multipart(MULTIPART, off) == (0, None)
    assert mg.http_parse_multipart(MULTIPART, offset=3) == (0, None)
    assert mg.http_parse_multipart(MULTIPART, 10**6) == (0, None)
    assert mg.http_parse_multipart(b"") == (0, None)
    assert mg.http_parse_multipart("plain text") == (0, None)
    assert mg.http_parse_multipart(b"--X\r\nA: b\r\n\r\nno end") == (0, None)
    with pytest.raises(OverflowError):
        mg.http_parse_multipart(MULTIPART, -1)


def _all_parts(body):
    out, off = [], 0
    while True:
        off, part = mg.http_parse_multipart(body, off)
        if part is None:
            return out
        out.append(part)


def test_http_parse_multipart_against_werkzeug_encoder():
    werkzeug_test = pytest.importorskip("werkzeug.test")
    from werkzeug.datastructures import FileStorage, MultiDict

    rnd = random.Random(SEED)
    for _ in range(100):
        fields = []
        for i in range(rnd.randrange(1, 5)):
            name = f"f{i}_" + rnd.choice(["x", "é", "a b"])
            if rnd.random() < 0.5:
                value = "".join(rnd.choice("ab\r\n-é") for _ in range(rnd.randrange(30)))
                fields.append((name, value, None, value.encode()))
            else:
                data = rnd.randbytes(rnd.randrange(2000))
                fname = rnd.choice(["a.txt", "photo.jpg", "naïve.bin"])
                fields.append((name, FileStorage(io.BytesIO(data), filename=fname), fname, data))
        boundary, body = werkzeug_test.encode_multipart(
            MultiDict([(n, v) for n, v, _, _ in fields]), boundary="----pymgBoundary" + mg.random_str(12))
        parts = _all_parts(body)
        assert [(p["name"], p["filename"] or None, p["body"]) for p in parts] == [
            (n, f, d) for n, _, f, d in fields]


# ---- Connection.http_basic_auth ---------------------------------------------------------------------

def test_http_basic_auth_appends_exactly_one_line():
    mgr = mg.Manager()
    try:
        lst = mgr.listen("tcp://127.0.0.1:0")
        lst.http_basic_auth("user", "pass")
        assert lst.send_data() == b"Authorization: Basic " + base64.b64encode(b"user:pass") + b"\r\n"
        before = lst.send_len
        lst.http_basic_auth("user", "")  # empty password: base64 of the user only
        assert lst.send_data()[before:] == b"Authorization: Basic " + base64.b64encode(b"user") + b"\r\n"
        before = lst.send_len
        lst.http_basic_auth("jös", "pä:ss")  # UTF-8, the password may contain ':'
        assert lst.send_data()[before:] == b"Authorization: Basic " + base64.b64encode("jös:pä:ss".encode()) + b"\r\n"
        with pytest.raises(TypeError):
            lst.http_basic_auth(b"user", "pass")
    finally:
        mgr.close()


def test_http_basic_auth_on_the_wire():
    got = []

    def handler(conn, ev, data):
        if ev == mg.MG_EV_ACCEPT:
            conn.http_basic_auth("Aladdin", "open sesame")
            conn.drain()

    mgr = mg.Manager(handler)
    try:
        lst = mgr.listen("tcp://127.0.0.1:0")
        port = lst.local_addr[1]
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            for _ in range(200):
                mgr.poll(10)
                s.setblocking(False)
                try:
                    chunk = s.recv(4096)
                except BlockingIOError:
                    continue
                if not chunk:
                    break
                got.append(chunk)
        assert b"".join(got) == b"Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n"  # RFC 7617 example
    finally:
        mgr.close()


def test_http_basic_auth_on_closed_connection():
    with pytest.raises(RuntimeError, match="^Connection has been closed$"):
        mg.Connection().http_basic_auth("u", "p")
