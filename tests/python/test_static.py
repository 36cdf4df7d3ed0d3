# SPDX-License-Identifier: MIT
"""Static files: Connection.serve_dir / serve_file (spec §3.2, §6.6, §8.4) on a
temporary tree: MIME types, index files, listings, redirects, HEAD, ranges,
conditional requests, traversal protection, 404 handling and extra_headers."""

from __future__ import annotations

import email.utils
import gzip
import http.client
import os

import pytest

from mgtest_helpers import HOST, HttpReader, connect, mg, req

SECRET = b"TOP SECRET - must never be served"


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_bytes(SECRET)
    files = {
        "index.html": b"<h1>home</h1>",
        "readme.txt": b"plain text file\n",
        "style.css": b"body{}", "app.js": b"let a=1;", "mod.mjs": b"export {};",
        "data.json": b'{"a":1}', "pic.png": b"\x89PNG\r\n\x1a\n\x00\x00", "pic.jpg": b"\xff\xd8",
        "pic.jpeg": b"\xff\xd8", "anim.gif": b"GIF89a", "icon.svg": b"<svg/>",
        "fav.ico": b"\x00\x00", "img.webp": b"RIFF", "doc.pdf": b"%PDF", "arch.zip": b"PK",
        "page.htm": b"<p>", "page.shtml": b"<p>", "font.woff": b"wOFF", "font.ttf": b"\x00",
        "table.csv": b"a,b", "song.mp3": b"ID3", "clip.mp4": b"\x00", "notes.xyz": b"xyz",
        "noext": b"none", "UPPER.TXT": b"upper", "404.html": b"<h1>custom missing</h1>",
        "big.bin": os.urandom(2 << 20),
        "digits.txt": bytes(range(48, 58)) * 10,  # 100 bytes "0123456789..."
    }
    for name, data in files.items():
        (root / name).write_bytes(data)
    (root / "listing").mkdir()
    (root / "listing" / "a.txt").write_bytes(b"A")
    (root / "listing" / "b <&>.txt").write_bytes(b"B special")
    (root / "listing" / "sub dir").mkdir()
    (root / "withidx").mkdir()
    (root / "withidx" / "index.html").write_bytes(b"<p>withidx</p>")
    (root / "withidx" / "index.shtml").write_bytes(b"<p>not me</p>")
    (root / "shtml").mkdir()
    (root / "shtml" / "index.shtml").write_bytes(b"<p>shtml index</p>")
    (root / "gz").mkdir()
    (root / "gz" / "page.txt").write_bytes(b"uncompressed body")
    (root / "gz" / "page.txt.gz").write_bytes(gzip.compress(b"compressed body"))
    os.symlink(root / "readme.txt", root / "link_in")
    os.symlink(tmp_path / "outside" / "secret.txt", root / "link_out")
    os.symlink(tmp_path / "outside", root / "linkdir_out")
    return root


class Static:
    def __init__(self, server, root, **server_kw):
        self.cfg = {"mode": "dir", "root": str(root), "path": "", "kw": {}}
        self.caught: list[BaseException] = []
        self.root = root

        def h(conn, ev, data):
            if ev == mg.MG_EV_HTTP_MSG:
                try:
                    if self.cfg["mode"] == "dir":
                        conn.serve_dir(data, self.cfg["root"], **self.cfg["kw"])
                    else:
                        conn.serve_file(data, self.cfg["path"], **self.cfg["kw"])
                except Exception as e:  # noqa: BLE001
                    self.caught.append(e)
                    conn.reply(500, "caught")

        self.srv = server(h, **server_kw)
        self.port = self.srv.port

    def get(self, path, method="GET", headers=None):
        with connect(self.port) as s:
            s.sendall(req(path, method, headers or {}))
            return HttpReader(s).read_response(method)

    def raw(self, raw, method="GET"):
        with connect(self.port) as s:
            s.sendall(raw)
            return HttpReader(s).read_response(method)


@pytest.fixture
def st(server, tree):
    return Static(server, tree)


def etag_of(path) -> str:
    s = os.stat(path)
    return f'"{int(s.st_mtime)}.{s.st_size}"'


# ------------------------------------------------------------------------------------


def test_file_served_with_headers_in_spec_order(st):
    r = st.get("/readme.txt")
    assert (r.status, r.reason) == (200, "OK")
    assert r.body == b"plain text file\n"
    names = [n for n in r.header_names() if n.lower() != "last-modified"]
    assert names == ["Content-Type", "Etag", "Content-Length"]
    assert r.header("Content-Type") == "text/plain; charset=utf-8"
    assert r.header("Etag") == etag_of(st.root / "readme.txt")
    assert r.header("Content-Length") == "16"


MIME = [
    ("index.html", "text/html; charset=utf-8"), ("page.htm", "text/html; charset=utf-8"),
    ("page.shtml", "text/html; charset=utf-8"), ("style.css", "text/css; charset=utf-8"),
    ("app.js", "text/javascript; charset=utf-8"), ("mod.mjs", "text/javascript; charset=utf-8"),
    ("readme.txt", "text/plain; charset=utf-8"), ("data.json", "application/json"),
    ("anim.gif", "image/gif"), ("pic.png", "image/png"), ("pic.jpg", "image/jpeg"),
    ("pic.jpeg", "image/jpeg"), ("icon.svg", "image/svg+xml"), ("fav.ico", "image/x-icon"),
    ("img.webp", "image/webp"), ("font.woff", "font/woff"), ("font.ttf", "font/ttf"),
    ("doc.pdf", "application/pdf"), ("arch.zip", "application/zip"), ("table.csv", "text/csv"),
    ("song.mp3", "audio/mpeg"), ("clip.mp4", "video/mp4"),
    ("notes.xyz", "text/plain; charset=utf-8"), ("noext", "text/plain; charset=utf-8"),
    ("UPPER.TXT", "text/plain; charset=utf-8"),
]


@pytest.mark.parametrize("name,ctype", MIME, ids=[m[0] for m in MIME])
def test_mime_types_by_extension(st, name, ctype):
    r = st.get("/" + name)
    assert r.status == 200
    assert r.header("Content-Type") == ctype
    assert r.body == (st.root / name).read_bytes()


def test_mime_types_override(st):
    st.cfg["kw"] = {"mime_types": "xyz=application/x-foo,txt=text/x-mine"}
    assert st.get("/notes.xyz").header("Content-Type") == "application/x-foo"
    assert st.get("/readme.txt").header("Content-Type") == "text/x-mine"
    assert st.get("/data.json").header("Content-Type") == "application/json"


def test_mime_types_wildcard_overrides_every_extension(st):
    st.cfg["kw"] = {"mime_types": "*=application/octet-stream"}
    for name in ("readme.txt", "index.html", "pic.png"):
        assert st.get("/" + name).header("Content-Type") == "application/octet-stream"


def test_index_html_for_root_and_subdirectory(st):
    r = st.get("/")
    assert (r.status, r.body) == (200, b"<h1>home</h1>")
    assert r.header("Content-Type") == "text/html; charset=utf-8"
    assert st.get("/withidx/").body == b"<p>withidx</p>"  # index.html before index.shtml


def test_index_shtml_when_no_index_html(st):
    r = st.get("/shtml/")
    assert (r.status, r.body) == (200, b"<p>shtml index</p>")


def test_directory_listing(st):
    r = st.get("/listing/")
    assert r.status == 200
    assert r.header("Content-Type") == "text/html; charset=utf-8"
    page = r.body.decode()
    assert "Index of /listing/" in page
    assert "a.txt" in page
    assert "b &lt;&amp;&gt;.txt" in page and "b <&>.txt" not in page  # HTML-escaped
    low = page.lower()
    assert 'href="b%20%3c%26%3e.txt"' in low or "href='b%20%3c%26%3e.txt'" in low  # URL-encoded
    assert "sub%20dir/" in low  # directories get a trailing slash
    assert ".." in page
    assert "mongoose" not in low  # no version banner


def test_directory_without_trailing_slash_redirects(st):
    r = st.get("/listing")
    assert (r.status, r.reason) == (301, "Moved Permanently")
    assert r.header("Location") == "/listing/"
    assert r.header("Content-Length") == "0" and r.body == b""


def test_head_has_same_headers_without_body(st):
    g = st.get("/readme.txt")
    with connect(st.port) as s:
        rd = HttpReader(s)
        s.sendall(req("/readme.txt", "HEAD"))
        h = rd.read_response("HEAD")
        assert h.status == 200 and h.headers == g.headers
        s.sendall(req("/data.json"))
        assert rd.read_response().body == b'{"a":1}'  # nothing stray after the HEAD answer


def test_encoded_file_name_is_decoded_once(st):
    assert st.get("/listing/b%20%3C%26%3E.txt").body == b"B special"
    r = st.get("/listing/%2561.txt")  # "%61" literally, not "a"
    assert r.status == 404


def test_request_method_is_not_checked(st):
    r = st.raw(req("/readme.txt", "POST", body=b"ignored"))
    assert (r.status, r.body) == (200, b"plain text file\n")


def test_large_file_streamed_intact_to_http_client(st):
    c = http.client.HTTPConnection(HOST, st.port, timeout=5)
    try:
        c.request("GET", "/big.bin")
        resp = c.getresponse()
        body = resp.read()
        c.request("GET", "/readme.txt")  # keep-alive after a streamed file
        assert c.getresponse().read() == b"plain text file\n"
    finally:
        c.close()
    assert resp.status == 200 and body == (st.root / "big.bin").read_bytes()


# ---------------------------------------------------------------------------- ranges


RANGES = [
    ("bytes=0-9", 0, 9), ("bytes=10-", 10, 99), ("bytes=-5", 95, 99),
    ("bytes=90-1000", 90, 99), ("bytes=42-42", 42, 42),
]


@pytest.mark.parametrize("spec,first,last", RANGES, ids=[r[0] for r in RANGES])
def test_single_range_206(st, spec, first, last):
    data = (st.root / "digits.txt").read_bytes()
    r = st.get("/digits.txt", headers={"Range": spec})
    assert (r.status, r.reason) == (206, "Partial Content")
    assert r.header("Content-Range") == f"bytes {first}-{last}/100"
    assert r.header("Content-Length") == str(last - first + 1)
    assert r.body == data[first:last + 1]


@pytest.mark.parametrize("spec", ["bytes=100-", "bytes=200-300"])
def test_unsatisfiable_range_416(st, spec):
    r = st.get("/digits.txt", headers={"Range": spec})
    assert (r.status, r.reason) == (416, "Requested Range Not Satisfiable")
    assert r.header("Content-Range") == "bytes */100"
    assert r.header("Content-Length") == "0" and r.body == b""


@pytest.mark.parametrize("spec", ["bytes=0-1,3-4", "bytes=x-y", "items=0-1"])
def test_multiple_or_malformed_ranges_ignored(st, spec):
    r = st.get("/digits.txt", headers={"Range": spec})
    assert r.status == 200 and len(r.body) == 100 and r.header("Content-Range") is None


# ---------------------------------------------------------------------- conditionals


def test_if_none_match_304(st):
    tag = st.get("/readme.txt").header("Etag")
    with connect(st.port) as s:
        rd = HttpReader(s)
        s.sendall(req("/readme.txt", headers={"If-None-Match": tag}))
        r = rd.read_response()
        assert (r.status, r.reason) == (304, "Not Modified")
        assert r.header("Etag") == tag
        assert r.header("Content-Length") is None
        s.sendall(req("/data.json"))  # no body was sent after the 304
        assert rd.read_response().body == b'{"a":1}'


@pytest.mark.parametrize("form", ["weak", "list", "star"])
def test_if_none_match_forms(st, form):
    tag = etag_of(st.root / "readme.txt")
    value = {"weak": "W/" + tag, "list": f'"nope", {tag}', "star": "*"}[form]
    assert st.get("/readme.txt", headers={"If-None-Match": value}).status == 304


def test_if_none_match_mismatch_serves_file(st):
    r = st.get("/readme.txt", headers={"If-None-Match": '"1.2"'})
    assert r.status == 200 and r.body == b"plain text file\n"


def test_304_carries_extra_headers(st):
    st.cfg["kw"] = {"extra_headers": "Cache-Control: max-age=60\r\n"}
    r = st.get("/readme.txt", headers={"If-None-Match": etag_of(st.root / "readme.txt")})
    assert r.status == 304 and r.header("Cache-Control") == "max-age=60"


def test_if_modified_since(st):
    mtime = os.stat(st.root / "readme.txt").st_mtime
    later = email.utils.formatdate(mtime + 60, usegmt=True)
    earlier = email.utils.formatdate(mtime - 3600, usegmt=True)
    assert st.get("/readme.txt", headers={"If-Modified-Since": later}).status == 304
    r = st.get("/readme.txt", headers={"If-Modified-Since": earlier})
    assert r.status == 200 and r.body == b"plain text file\n"


# ----------------------------------------------------------------- traversal, 404


TRAVERSAL = [
    "/../outside/secret.txt", "/%2e%2e/outside/secret.txt", "/%2E%2E/outside/secret.txt",
    "/listing/../../outside/secret.txt", "/listing/..%2f..%2foutside/secret.txt",
    "/..\\outside\\secret.txt", "/..%5coutside%5csecret.txt", "/listing/%2e%2e/%2e%2e/outside/secret.txt",
    "/a%00.txt", "/%zz", "/bad%2",
]


@pytest.mark.parametrize("path", TRAVERSAL)
def test_traversal_and_bad_paths_rejected_400(st, path):
    r = st.raw(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert (r.status, r.body) == (400, b"Invalid path")
    assert SECRET not in r.body


def test_double_encoded_dots_are_not_decoded_twice(st):
    r = st.raw(b"GET /%252e%252e/outside/secret.txt HTTP/1.1\r\nHost: x\r\n\r\n")
    assert r.status == 404 and SECRET not in r.body


@pytest.mark.parametrize("path", ["/link_out", "/linkdir_out/secret.txt"])
def test_symlinks_leading_outside_root_not_served(st, path):
    r = st.get(path)
    assert r.status != 200 and 400 <= r.status < 500
    assert SECRET not in r.body


def test_symlink_inside_root_is_followed(st):
    r = st.get("/link_in")
    assert (r.status, r.body) == (200, b"plain text file\n")


def test_missing_file_404(st):
    r = st.get("/nope.txt")
    assert (r.status, r.reason) == (404, "Not Found")
    assert r.header("Content-Type") == "text/plain"
    assert r.header("Content-Length") == "10"
    assert r.body == b"Not found\n"


def test_page404_served_with_status_200(st):
    st.cfg["kw"] = {"page404": str(st.root / "404.html")}
    r = st.get("/missing/thing")
    assert (r.status, r.body) == (200, b"<h1>custom missing</h1>")


def test_path_longer_than_max_path_400(server, tree):
    limit = len(str(tree)) + 40  # room for short names only
    s = Static(server, tree, limits={"max_path": limit})
    assert s.get("/readme.txt").status == 200
    r = s.get("/" + "a" * 80 + ".txt")
    assert (r.status, r.body) == (400, b"Exceeded path size")


def test_uri_prefix_mapping_longest_segment_match(st, tmp_path):
    a, b, c = tmp_path / "A", tmp_path / "B", tmp_path / "C"
    for d, tag in ((a, b"A"), (b, b"B"), (c, b"C")):
        d.mkdir()
        (d / "x.txt").write_bytes(tag)
    (b / "staticx").mkdir()
    (b / "staticx" / "x.txt").write_bytes(b"B-staticx")
    (b / "static").mkdir()
    (b / "static" / "x.txt").write_bytes(b"B-static")
    st.cfg["root"] = f"/={b},/static={a},/static/deep={c}"
    assert st.get("/static/x.txt").body == b"A"
    assert st.get("/static/deep/x.txt").body == b"C"
    assert st.get("/x.txt").body == b"B"
    assert st.get("/staticx/x.txt").body == b"B-staticx"  # prefix must end at a segment


def test_entry_without_prefix_maps_root(st, tmp_path):
    a = tmp_path / "A2"
    a.mkdir()
    (a / "y.txt").write_bytes(b"mapped")
    st.cfg["root"] = f"{st.root},/a2={a}"
    assert st.get("/a2/y.txt").body == b"mapped"
    assert st.get("/readme.txt").body == b"plain text file\n"


def test_gzip_variant_when_accepted(st):
    r = st.get("/gz/page.txt", headers={"Accept-Encoding": "deflate, gzip"})
    assert r.status == 200
    assert r.header("Content-Encoding") == "gzip"
    assert r.header("Content-Type") == "text/plain; charset=utf-8"
    assert gzip.decompress(r.body) == b"compressed body"
    plain = st.get("/gz/page.txt")
    assert plain.body == b"uncompressed body" and plain.header("Content-Encoding") is None


# -------------------------------------------------------------------- extra_headers


def test_extra_headers_appended_and_final_crlf_added(st):
    st.cfg["kw"] = {"extra_headers": "X-Extra: 1\r\nCache-Control: no-cache"}
    r = st.get("/readme.txt")
    names = r.header_names()
    assert names[-2:] == ["X-Extra", "Cache-Control"]
    assert names.index("Content-Length") < names.index("X-Extra")
    assert r.body == b"plain text file\n"


def test_extra_headers_content_type_replaces_404_default(st):
    st.cfg["kw"] = {"extra_headers": "Content-Type: text/html\r\n"}
    r = st.get("/nope")
    assert r.status == 404 and r.header_all("Content-Type") == ["text/html"]


@pytest.mark.parametrize("bad", [
    "X-A: 1\r\n\r\nX-B: 2\r\n", "X-A: 1\nX-B: 2\r\n", "X-A: 1\rX-B: 2\r\n",
    "X-A: 1\x00\r\n", "\r\n",
], ids=["blank-line", "bare-lf", "bare-cr", "nul", "only-crlf"])
def test_malformed_extra_headers_value_error(st, bad):
    st.cfg["kw"] = {"extra_headers": bad}
    r = st.get("/readme.txt")
    assert (r.status, r.body) == (500, b"caught")
    assert type(st.caught[0]) is ValueError
    assert str(st.caught[0]) == "extra_headers must be CRLF-terminated header lines"


# ------------------------------------------------------------------------ serve_file


def test_serve_file_ignores_uri(st):
    st.cfg.update(mode="file", path=str(st.root / "data.json"))
    r = st.get("/anything/at/all.txt")
    assert r.status == 200 and r.body == b'{"a":1}'
    assert r.header("Content-Type") == "application/json"
    assert r.header("Etag") == etag_of(st.root / "data.json")


def test_serve_file_missing_404(st):
    st.cfg.update(mode="file", path=str(st.root / "does-not-exist.txt"))
    r = st.get("/")
    assert (r.status, r.body) == (404, b"Not found\n")


def test_serve_file_head_and_range(st):
    st.cfg.update(mode="file", path=str(st.root / "digits.txt"))
    h = st.get("/", method="HEAD")
    assert h.status == 200 and h.header("Content-Length") == "100" and h.body == b""
    r = st.get("/", headers={"Range": "bytes=3-5"})
    assert (r.status, r.body) == (206, b"345")


def test_serve_file_mime_override(st):
    st.cfg.update(mode="file", path=str(st.root / "notes.xyz"),
                  kw={"mime_types": "xyz=application/x-xyz"})
    assert st.get("/").header("Content-Type") == "application/x-xyz"


def test_serve_with_invalidated_message_value_error(server, tree):
    kept, caught = [], []

    def h(conn, ev, data):
        if ev == mg.MG_EV_HTTP_HDRS:
            kept.append(data)
        elif ev == mg.MG_EV_HTTP_MSG:
            for fn in (lambda: conn.serve_dir(kept[-1], str(tree)),
                       lambda: conn.serve_file(kept[-1], str(tree / "readme.txt"))):
                try:
                    fn()
                except Exception as e:  # noqa: BLE001
                    caught.append(e)
            conn.reply(200, "after")

    srv = server(h)
    with connect(srv.port) as s:
        s.sendall(req("/readme.txt"))
        assert HttpReader(s).read_response().body == b"after"
    assert [type(e) for e in caught] == [ValueError, ValueError]
    assert all(str(e) == "HttpMessage is not valid for this event" for e in caught)


def test_serve_with_non_message_type_error(server, tree):
    caught = []

    def h(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            for fn in (lambda: conn.serve_dir("GET /", str(tree)),
                       lambda: conn.serve_file(None, str(tree / "readme.txt"))):
                try:
                    fn()
                except Exception as e:  # noqa: BLE001
                    caught.append(e)
            conn.reply(200, "after")

    srv = server(h)
    with connect(srv.port) as s:
        s.sendall(req("/"))
        assert HttpReader(s).read_response().body == b"after"
    assert [type(e) for e in caught] == [TypeError, TypeError]
