#!/usr/bin/env python3
"""Regenerates the seed corpora in fuzz/corpus/ (spec §8.8: every row of §6.3 and
every §8.6 input, plus valid requests). Run from anywhere: python3 fuzz/gen_corpus.py"""
import os
import pathlib
import zlib

ROOT = pathlib.Path(__file__).resolve().parent / "corpus"
H = b"Host: a\r\n"
HEAD = b"GET / HTTP/1.1\r\n" + H


def cl(v: bytes) -> bytes:
    return b"POST / HTTP/1.1\r\n" + H + b"Content-Length: " + v + b"\r\n\r\n"


def te(v: bytes) -> bytes:
    return b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: " + v + b"\r\n\r\n"


HTTP_REQUEST = {
    # Valid requests.
    "valid_get": HEAD + b"\r\n",
    "valid_query": b"GET /p/a?x=1&y=2 HTTP/1.1\r\n" + H + b"Accept: */*\r\n\r\n",
    "valid_http10": b"GET / HTTP/1.0\r\n\r\n",
    "valid_http10_keepalive": b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "valid_close": HEAD + b"Connection: Upgrade, close\r\n\r\n",
    "valid_bare_lf": b"GET / HTTP/1.1\nHost: a\n\n",
    "valid_leading_empty_lines": b"\r\n\n" + HEAD + b"\r\n",
    "valid_post_cl": cl(b"5") + b"hello",
    "valid_cl_duplicate": b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 3\r\ncontent-length: 3, 3\r\n\r\nabc",
    "valid_chunked": te(b"chunked") + b"5;e=1\r\nhello\r\n0\r\nT: v\r\n\r\n",
    "valid_expect": b"PUT /u HTTP/1.1\r\n" + H + b"Expect: 100-continue\r\nContent-Length: 1\r\n\r\nx",
    "valid_utf8_target": b"GET /caf\xc3\xa9?q=\xe2\x82\xac HTTP/1.1\r\n" + H + b"\r\n",
    "valid_obs_text_value": HEAD + b"X: \xff\xfe\t v \r\n\r\n",
    "valid_pipelined": HEAD + b"\r\n" + HEAD + b"\r\n" + b"GET /x HTTP/1.0\r\n\r\n",
    "valid_absolute_form": b"GET http://h/p?q HTTP/1.1\r\nHost: h\r\n\r\n",
    "valid_connect": b"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n",
    "valid_asterisk": b"OPTIONS * HTTP/1.1\r\n" + H + b"\r\n",
    # §6.3 rejections, one per row (and variants).
    "bad_request_line_no_version": b"GET /\r\n\r\n",
    "bad_request_line_double_space": b"GET  / HTTP/1.1\r\n" + H + b"\r\n",
    "bad_method_char": b"G(T / HTTP/1.1\r\n" + H + b"\r\n",
    "bad_missing_colon": HEAD + b"NoColon\r\n\r\n",
    "bad_empty_header_name": HEAD + b": v\r\n\r\n",
    "bad_non_token_name": HEAD + b"X/Y: v\r\n\r\n",
    "bad_space_before_colon": b"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
    "bad_obs_fold": HEAD + b"X: a\r\n b\r\n\r\n",
    "bad_ctl_in_value": HEAD + b"X: a\x01b\r\n\r\n",
    "bad_nul_in_value": HEAD + b"X: a\x00b\r\n\r\n",
    "bad_invalid_utf8_target": b"GET /\xc0\xaf HTTP/1.1\r\n" + H + b"\r\n",
    "bad_invalid_utf8_method": b"\xff\xfe / HTTP/1.1\r\n" + H + b"\r\n",
    "bad_bare_cr": b"GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n",
    "bad_version_http2": b"GET / HTTP/2.0\r\n" + H + b"\r\n",
    "bad_version_garbage": b"GET / HTTX/1.1\r\n" + H + b"\r\n",
    "bad_no_host": b"GET / HTTP/1.1\r\n\r\n",
    "bad_two_hosts": HEAD + b"Host: b\r\n\r\n",
    "bad_cl_sign": cl(b"+5"),
    "bad_cl_space": cl(b"5 5"),
    "bad_cl_overflow": cl(b"18446744073709551616"),
    "bad_cl_list_differs": cl(b"5, 6"),
    "bad_cl_with_te": b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
    "bad_te_gzip": te(b"gzip"),
    "bad_te_list": te(b"gzip, chunked"),
    "bad_te_repeated": b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
    "bad_te_http10": b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
    "bad_chunk_size": te(b"chunked") + b"zz\r\nhello\r\n0\r\n\r\n",
    "bad_chunk_overflow": te(b"chunked") + b"10000000000000000\r\n",
    "bad_uri_too_long": b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n" + H + b"\r\n",
    "bad_header_bytes": HEAD + b"X: " + b"v" * 70000 + b"\r\n\r\n",
    "bad_too_many_headers": HEAD + b"".join(b"H%d: v\r\n" % i for i in range(120)) + b"\r\n",
    "bad_body_too_large": cl(b"4194304"),
    # §8.6 adversarial inputs.
    "adv_non_http_tls": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(32)),
    "adv_non_http_ssh": b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n",
    "adv_head_never_ends": HEAD + b"X-Slow: " + b"s" * 200,
    "adv_bogus_method": b"FOOBAR /x HTTP/1.1\r\n" + H + b"\r\n",
    "adv_bogus_method_2": b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n\r\n",
    "adv_100kb_value": HEAD + b"X-Big: " + b"b" * 100 * 1024 + b"\r\n\r\n",
    "adv_500_headers": HEAD + b"".join(b"X-H%d: v\r\n" % i for i in range(500)) + b"\r\n",
    "adv_nul_in_uri": b"GET /a\x00b HTTP/1.1\r\n" + H + b"\r\n",
    "adv_conflicting_cl": b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    "adv_empty": b"",
    "adv_one_byte": b"G",
    "adv_h2_preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
}

# fuzz_chunked input: byte 0 = limits selector, byte 1 = piece pattern, then the body.
CHUNKED = {
    "single": b"\x00\x05" + b"5\r\nhello\r\n0\r\n\r\n",
    "multi_ext_trailers": b"\x00\x09" + b"3;a=b\r\nabc\r\nA ; x=\"y z\"\r\n0123456789\r\n0\r\nT: v\r\nU:\r\n\r\n",
    "leading_zeros": b"\x00\x01" + b"0005\r\nhello\r\n000\r\n\r\nGET",
    "binary_data": b"\x00\x03" + b"4\r\n\r\n\x00\n\r\n0\r\n\r\n",
    "small_limits": b"\x51\x02" + b"5;abcdefghij\r\nhello\r\n0\r\nLong-Trailer: 1234567890\r\n\r\n",
    "max_body": b"\x0a\x04" + b"3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n",
    "overflow": b"\x00\x07" + b"10000000000000000\r\n",
    "bare_lf": b"\x00\x02" + b"5\nhello\n0\n\n",
    "bad_data_crlf": b"\x00\x06" + b"5\r\nhelloX\r\n",
    "bad_trailer": b"\x00\x08" + b"0\r\nX\r\n\r\n",
}


# fuzz_http_response input: a response stream (spec §6.4 with the §6.3 rules).
R = b"HTTP/1.1 200 OK\r\n"


def rcl(v: bytes) -> bytes:
    return R + b"Content-Length: " + v + b"\r\n\r\n"


def rte(v: bytes) -> bytes:
    return R + b"Transfer-Encoding: " + v + b"\r\n\r\n"


HTTP_RESPONSE = {
    # Valid responses.
    "valid_cl": rcl(b"5") + b"hello",
    "valid_cl_zero": rcl(b"0"),
    "valid_cl_duplicate": R + b"Content-Length: 3\r\ncontent-length: 3, 3\r\n\r\nabc",
    "valid_chunked": rte(b"chunked") + b"5;e=1\r\nhello\r\n0\r\nT: v\r\n\r\n",
    "valid_until_close": R + b"Content-Type: text/html\r\n\r\n<html>",
    "valid_http10": b"HTTP/1.0 200 OK\r\nServer: SimpleHTTP/0.6 Python/3.11\r\n\r\nbody",
    "valid_http10_keepalive": b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok",
    "valid_close": R + b"Connection: close\r\nContent-Length: 0\r\n\r\n",
    "valid_100_then_200": b"HTTP/1.1 100 Continue\r\n\r\n" + rcl(b"2") + b"ok",
    "valid_101": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x81\x05Hello",
    "valid_103": b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n",
    "valid_204": b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
    "valid_304": b"HTTP/1.1 304 Not Modified\r\nEtag: \"1.2\"\r\nContent-Length: 99\r\n\r\n",
    "valid_no_reason": b"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
    "valid_empty_reason": b"HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n",
    "valid_reason_obs_text": b"HTTP/1.1 500 Erreur \xc3\xa9\t\xff\r\nContent-Length: 0\r\n\r\n",
    "valid_bare_lf": b"HTTP/1.1 200 OK\nContent-Length: 1\n\nx",
    "valid_leading_empty_lines": b"\r\n\n" + rcl(b"0"),
    "valid_pipelined": rcl(b"1") + b"a" + rcl(b"1") + b"b" + b"HTTP/1.1 204 No Content\r\n\r\n",
    "valid_999": b"HTTP/1.1 999 Custom\r\nContent-Length: 0\r\n\r\n",
    "valid_typical": R + b"Date: Mon, 01 Jan 2024 00:00:00 GMT\r\nServer: nginx\r\n"
                     b"Content-Type: application/json\r\nSet-Cookie: a=b; Path=/\r\nSet-Cookie: c=d\r\n"
                     b"Content-Length: 2\r\n\r\n{}",
    # Rejections (the §6.3 rows that apply to responses).
    "bad_status_line_lowercase": b"http/1.1 200 OK\r\n\r\n",
    "bad_status_two_digits": b"HTTP/1.1 20 OK\r\n\r\n",
    "bad_status_four_digits": b"HTTP/1.1 2000 OK\r\n\r\n",
    "bad_status_leading_zero": b"HTTP/1.1 099 X\r\n\r\n",
    "bad_status_double_space": b"HTTP/1.1  200 OK\r\n\r\n",
    "bad_reason_ctl": b"HTTP/1.1 200 O\x01K\r\n\r\n",
    "bad_reason_nul": b"HTTP/1.1 200 O\x00K\r\n\r\n",
    "bad_version_http2": b"HTTP/2.0 200 OK\r\n\r\n",
    "bad_version_1x": b"HTTP/1.x 200 OK\r\n\r\n",
    "bad_icy": b"ICY 200 OK\r\n\r\n",
    "bad_bare_cr": R + b"X: a\rY: b\r\n\r\n",
    "bad_obs_fold": R + b"X: a\r\n b\r\n\r\n",
    "bad_space_before_colon": R + b"X : a\r\n\r\n",
    "bad_empty_header_name": R + b": a\r\n\r\n",
    "bad_missing_colon": R + b"NoColon\r\n\r\n",
    "bad_non_token_name": R + b"X/Y: v\r\n\r\n",
    "bad_nul_in_value": R + b"X: a\x00b\r\n\r\n",
    "bad_ctl_in_value": R + b"X: a\x01b\r\n\r\n",
    "bad_cl_sign": rcl(b"+5"),
    "bad_cl_space": rcl(b"5 5"),
    "bad_cl_overflow": rcl(b"18446744073709551616"),
    "bad_cl_list_differs": rcl(b"5, 6"),
    "bad_cl_conflicting": R + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    "bad_cl_with_te": R + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
    "bad_te_gzip": rte(b"gzip"),
    "bad_te_list": rte(b"gzip, chunked"),
    "bad_te_repeated": R + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
    "bad_te_http10": b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
    "bad_header_bytes": R + b"X: " + b"v" * 70000 + b"\r\n\r\n",
    "bad_too_many_headers": R + b"".join(b"H%d: v\r\n" % i for i in range(120)) + b"\r\n",
    # §8.6-style adversarial peers.
    "adv_non_http_tls": b"\x16\x03\x03\x00\x5a\x02\x00\x00\x56\x03\x03" + bytes(range(32)),
    "adv_non_http_ssh": b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n",
    "adv_head_never_ends": R + b"X-Slow: " + b"s" * 200,
    "adv_100kb_value": R + b"X-Big: " + b"b" * 100 * 1024 + b"\r\n\r\n",
    "adv_500_headers": R + b"".join(b"X-H%d: v\r\n" % i for i in range(500)) + b"\r\n",
    "adv_request_instead": b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    "adv_empty": b"",
    "adv_one_byte": b"H",
}


def ws(first: int, payload: bytes, mask: bytes = b"", length_form: int = 0) -> bytes:
    """One frame; length_form 0 = minimal, 16 or 64 = forced extended length."""
    n = len(payload)
    mbit = 0x80 if mask else 0
    if length_form == 64 or (length_form == 0 and n > 0xFFFF):
        hdr = bytes([first, mbit | 127]) + n.to_bytes(8, "big")
    elif length_form == 16 or (length_form == 0 and n >= 126):
        hdr = bytes([first, mbit | 126]) + n.to_bytes(2, "big")
    else:
        hdr = bytes([first, mbit | n])
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return hdr + mask + payload


M = b"\x37\xfa\x21\x3d"
# fuzz_ws_frame input: byte 0 = config (bit 0 server side / masked frames expected,
# bits 1-3 max_payload selector, bits 4-7 unmask split pattern), then frames.
SRV = b"\x01"  # server, no limit
CLI = b"\x00"  # client, no limit
WS_FRAME = {
    # RFC 6455 §5.7 examples.
    "rfc_unmasked_text": CLI + bytes([0x81, 0x05]) + b"Hello",
    "rfc_masked_text": SRV + bytes([0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]),
    "rfc_fragmented": CLI + bytes([0x01, 0x03]) + b"Hel" + bytes([0x80, 0x02]) + b"lo",
    "rfc_ping_pong": SRV + ws(0x89, b"Hello", M) + ws(0x8A, b"Hello", M),
    "rfc_256_binary": CLI + ws(0x82, bytes(range(256))),
    "rfc_64k_binary": CLI + ws(0x82, b"\xab" * 65536),
    # Length forms and masks.
    "len_125": SRV + ws(0x82, b"x" * 125, M),
    "len_126": SRV + ws(0x82, b"y" * 126, M),
    "len_16_nonminimal": CLI + ws(0x82, b"abc", b"", 16),
    "len_64_nonminimal": CLI + ws(0x82, b"abc", b"", 64),
    "len_64_top_bit": SRV + bytes([0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0]) + M,
    "len_64_max": CLI + bytes([0x82, 0x7F, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]),
    "huge_1gib": b"\x0f" + bytes([0x82, 0xFF, 0, 0, 0, 0, 0x40, 0, 0, 0]) + M,  # 3 MiB limit
    "limit_boundary": b"\x09" + ws(0x82, b"z" * 126, M) + ws(0x82, b"z" * 127, M),  # limit 126
    "close_with_code": SRV + ws(0x88, b"\x03\xe8bye", M),
    "close_empty": CLI + ws(0x88, b""),
    "text_utf8": SRV + ws(0x81, "caf\u00e9 \u20ac \U0001F600".encode(), M),
    "text_invalid_utf8": SRV + ws(0x81, b"\xed\xa0\x80\xc0\xaf\xf4\x90\x80\x80\xe2\x82", M),
    "text_fragmented_utf8": CLI + ws(0x01, b"\xe2\x82") + ws(0x80, b"\xac"),
    "many_small": SRV + b"".join(ws(0x82, bytes([i]) * i, M) for i in range(20)),
    # Protocol violations.
    "bad_rsv": SRV + ws(0xC1, b"x", M),
    "bad_unknown_op_3": SRV + ws(0x83, b"x", M),
    "bad_unknown_op_b": CLI + ws(0x8B, b""),
    "bad_control_fragmented": SRV + ws(0x09, b"", M),
    "bad_control_too_long": CLI + ws(0x89, b"p" * 126),
    "bad_unmasked_on_server": SRV + ws(0x81, b"Hello"),
    "bad_masked_on_client": CLI + ws(0x81, b"Hello", M),
    "adv_random_after_upgrade": SRV + bytes((i * 131 + 7) % 256 for i in range(200)),
    "adv_empty": b"\x01",
}

# fuzz_base64 input: the bytes to encode, and the text to decode.
BASE64 = {
    "rfc_foobar": b"Zm9vYmFy",
    "padded_1": b"Zm9vYg==",
    "padded_2": b"Zm9vYmE=",
    "incomplete_tail": b"Zm9vYmF",
    "nonzero_pad_bits": b"Zh==",
    "high_alphabet": b"+/+/",
    "ws_key": b"dGhlIHNhbXBsZSBub25jZQ==",
    "invalid_char": b"Zm9v!mFy",
    "pad_in_middle": b"Zg==Zm9v",
    "whitespace": b"Zm9v\nYmFy",
    "binary": bytes(range(256)),
    "empty": b"",
}


# fuzz_json input: byte 0 = path length n, n path bytes, then the document.
def js(path: bytes, doc: bytes) -> bytes:
    return bytes([len(path)]) + path + doc


JSON_DOC = (b'{"name": "Alice", "age": 30, "tags": ["a", {"deep": [1, 2.5e-3, null]}], '
            b'"s": "\\u00e9\\ud83d\\ude00\\n", "ok": true, "no": false}')
JSON = {
    "spec_string": js(b"$.name", JSON_DOC),
    "spec_number": js(b"$.age", JSON_DOC),
    "nested_index": js(b"$.tags[1].deep[1]", JSON_DOC),
    "root": js(b"$", JSON_DOC),
    "escapes": js(b"$.s", JSON_DOC),
    "bool": js(b"$.ok", JSON_DOC),
    "array_root": js(b"$[2][0]", b"[1, 2, [3]]"),
    "absent": js(b"$.missing", JSON_DOC),
    "out_of_range": js(b"$.tags[5]", JSON_DOC),
    "leading_zero": js(b"$.a", b'{"x": 01, "a": 1}'),
    "trailing_comma": js(b"$.a", b'{"x": [1,], "a": 1}'),
    "truncated": js(b"$.a", b'{"a": [1, {"b": "c'),
    "lone_surrogate": js(b"$.s", b'{"s": "\\ud800"}'),
    "bad_escape": js(b"$.s", b'{"s": "\\x41"}'),
    "control_char": js(b"$.s", b'{"s": "a\tb"}'),
    "big_numbers": js(b"$[1]", b"[1e400, -9223372036854775809, 5e-324, 123456789012345678901234567890]"),
    "escaped_key": js(b"$.a", b'{"\\u0061": 1}'),
    "duplicate_key": js(b"$.a", b'{"a": 1, "a": 2}'),
    "deep_nesting": js(b"$", b"[" * 5000 + b"]" * 5000),
    "deep_unterminated": js(b"$[0][0]", b"[" * 3000),
    "whitespace": js(b"$.a[0]", b' \t\r\n{ "a" : [ 1 ] } '),
    "bad_path": js(b"$..a[x]", JSON_DOC),
    "invalid_utf8": js(b"$.k", b'{"k": "\xff\xfe"}'),
}

URL = {
    "full": b"http://user:secret@example.com:8080/path/x?q=1#frag",
    "ipv6": b"https://[2001:db8::1]:8443/a",
    "ipv6_unterminated": b"http://[::1:80/x",
    "no_scheme": b"127.0.0.1:8000/a",
    "bare_host": b"example.com",
    "empty": b"",
    "bad_port": b"tcp://a:99999",
    "port_letters": b"tcp://a:8o",
    "at_in_password": b"http://user:p@ss@host:81/",
    "mqtts_default": b"mqtts://broker",
    "upper_scheme": b"HTTPS://A",
    "unicode": "ws://h\u00e9/caf\u00e9 ?x=\u20ac".encode(),
    "binary": bytes(range(256)),
}


# fuzz_match input: byte 0 = pattern length n, n pattern bytes, then the subject.
def mt(pattern: bytes, s: bytes) -> bytes:
    return bytes([len(pattern)]) + pattern + s


MATCH = {
    "spec_1": mt(b"/api/*/??", b"/api/users/42"),
    "spec_2": mt(b"*", b"foo/bar"),
    "spec_3": mt(b"#.txt", b"/a/b/c.txt"),
    "spec_4": mt(b"", b""),
    "lazy": mt(b"*.*", b"a.b.c"),
    "hash_then_star": mt(b"#/*", b"a/b/c"),
    "utf8": mt("caf?".encode(), "caf\u00e9".encode()),
    "invalid_utf8": mt(b"\xc3?", b"\xc3\xa9\xff"),
    "many_stars": mt(b"*a" * 20 + b"b", b"a" * 200),
    "mixed": mt(b"#a*a#b", b"a" * 50 + b"/" + b"a" * 50),
    "questions": mt(b"?" * 40, b"x" * 40),
}


# fuzz_multipart input: bytes 0-1 = an extra start offset (little endian), then the body.
def mp(body: bytes, offset: int = 0) -> bytes:
    return offset.to_bytes(2, "little") + body


MP_BODY = (b'--XyZ\r\nContent-Disposition: form-data; name="field1"\r\n\r\nvalue1\r\n'
           b'--XyZ\r\nContent-Disposition: form-data; name="f"; filename="a.txt"\r\n'
           b"Content-Type: text/plain\r\n\r\nfile\r\ncontent\r\n--XyZ--\r\n")
MULTIPART = {
    "two_parts": mp(MP_BODY),
    "second_part": mp(MP_BODY, 64),
    "end_delimiter": mp(MP_BODY, 174),
    "bad_offset": mp(MP_BODY, 3),
    "no_headers": mp(b"--X\r\n\r\nabc\r\n--X--"),
    "empty_part_no_crlf": mp(b'--b\r\nContent-Disposition: form-data; name="e"\r\n\r\n--b--\r\n'),
    "preamble_crlf": mp(b"\r\n--B\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--B--\r\n"),
    "no_closing": mp(b"--X\r\nA: b\r\n\r\nabc"),
    "header_no_colon": mp(b"--X\r\nbogus\r\n\r\nabc\r\n--X--"),
    "params": mp(b"--b\r\ncontent-disposition: form-data; filename=x; name=\"y;z\"; flag\r\n\r\nD\r\n--b--"),
    "lookalikes": mp(b"--abc\r\n\r\nx\r\n--abd\r\n--ab\r\n--abc\r\n\r\ny\r\n--abc--"),
    "not_multipart": mp(b"hello world"),
    "empty": mp(b""),
}



def zdeflate(data: bytes, bits: int = 15, level: int = 6) -> bytes:
    """A permessage-deflate payload (RFC 7692 §7.2.1): sync flush, 00 00 ff ff removed."""
    co = zlib.compressobj(level, wbits=-bits)
    return (co.compress(data) + co.flush(zlib.Z_SYNC_FLUSH))[:-4]


# fuzz_ws_deflate: byte 0 = limit/split knobs, byte 1 < 128: header values, >= 128: payload.
WS_DEFLATE = {
    "neg_default": b"\x00\x10permessage-deflate; client_max_window_bits",
    "neg_all_params": b"\x7f\x20permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
                      b"server_max_window_bits=10; client_max_window_bits=9",
    "neg_two_offers": b"\x13\x00permessage-deflate; server_max_window_bits=8, "
                      b"permessage-deflate; client_max_window_bits=\"12\"",
    "neg_multi_values": b"\x05\x01x-webkit-deflate-frame\npermessage-deflate\nfoo; a=\"b,c\"",
    "neg_bad_quote": b"\x00\x00permessage-deflate; a=\"unterminated",
    "neg_duplicate": b"\x00\x00permessage-deflate; server_no_context_takeover; server_no_context_takeover",
    # RFC 7692 §7.2.3.1, §7.2.3.3, §7.2.3.4 and §7.2.3.6 examples.
    "inf_hello": b"\x07\x80" + bytes([0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]),
    "inf_stored": b"\x0f\x80" + bytes([0x00, 0x05, 0x00, 0xfa, 0xff]) + b"Hello\x00",
    "inf_bfinal": b"\x87\x80" + bytes([0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00]),
    "inf_empty": b"\x03\x80\x00",
    "inf_text": b"\x7e\x90" + zdeflate(b"the quick brown fox jumps over the lazy dog " * 30),
    "inf_window9": b"\x46\x90" + zdeflate(bytes(range(256)) * 8, bits=9),
    "inf_bomb": b"\x02\xff" + zdeflate(bytes(1 << 20), level=9),
    "inf_corrupt": b"\x07\x80\xff\xff\xff\xff",
    "inf_stored_bad_len": b"\x07\x80\x00\x05\x00\x00\x00",
}


def write(dirname: str, table: dict) -> None:
    d = ROOT / dirname
    d.mkdir(parents=True, exist_ok=True)
    for name, data in table.items():
        (d / name).write_bytes(data)


if __name__ == "__main__":
    write("http_request", HTTP_REQUEST)
    write("chunked", CHUNKED)
    write("http_response", HTTP_RESPONSE)
    write("ws_frame", WS_FRAME)
    write("base64", BASE64)
    write("json", JSON)
    write("url", URL)
    write("match", MATCH)
    write("multipart", MULTIPART)
    write("ws_deflate", WS_DEFLATE)
    total = sum(map(len, (HTTP_REQUEST, CHUNKED, HTTP_RESPONSE, WS_FRAME, BASE64, JSON, URL, MATCH, MULTIPART,
                          WS_DEFLATE)))
    print(f"wrote {total} seeds under {os.path.relpath(ROOT)}")
