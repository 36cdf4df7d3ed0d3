#!/usr/bin/env python3
"""Regenerates the seed corpora in fuzz/corpus/ (spec §8.8: every row of §6.3 and
every §8.6 input, plus valid requests). Run from anywhere: python3 fuzz/gen_corpus.py"""
import os
import pathlib

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


def write(dirname: str, table: dict) -> None:
    d = ROOT / dirname
    d.mkdir(parents=True, exist_ok=True)
    for name, data in table.items():
        (d / name).write_bytes(data)


if __name__ == "__main__":
    write("http_request", HTTP_REQUEST)
    write("chunked", CHUNKED)
    write("json", JSON)
    write("url", URL)
    write("match", MATCH)
    write("multipart", MULTIPART)
    total = sum(map(len, (HTTP_REQUEST, CHUNKED, JSON, URL, MATCH, MULTIPART)))
    print(f"wrote {total} seeds under {os.path.relpath(ROOT)}")
