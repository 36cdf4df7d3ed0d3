// Tests for src/core/http/static_files.cpp (spec §6.6, §8.4).
// Requests are built by hand (no parser dependency); a temporary tree is created once.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "mg/static_files.hpp"

using mg::http::FileResponse;
using mg::http::Header;
using mg::http::Request;
using mg::http::ServeError;

namespace {

// ---- request builder ------------------------------------------------------------------
struct Req {
  std::string method = "GET", uri = "/", query, proto = "HTTP/1.1";
  std::vector<std::pair<std::string, std::string>> hdrs;
  std::vector<Header> storage;
  Request r;

  Req() = default;
  explicit Req(std::string u, std::string m = "GET") : method(std::move(m)), uri(std::move(u)) {}
  Req& h(std::string n, std::string v) {
    hdrs.emplace_back(std::move(n), std::move(v));
    return *this;
  }
  const Request& get() {
    storage.clear();
    for (auto& [n, v] : hdrs) storage.push_back(Header{n, v});
    r = Request{};
    r.method = method;
    r.uri = uri;
    r.query = query;
    r.proto = proto;
    r.headers = storage.data();
    r.num_headers = storage.size();
    return r;
  }
};

// ---- temporary tree ---------------------------------------------------------------------
std::string g_base;  // <tmp>/sf-XXXXXX
std::string g_root;  // <base>/root
std::string g_out;   // <base>/outside

constexpr time_t kMtime = 1700000000;  // Tue, 14 Nov 2023 22:13:20 GMT
constexpr const char* kLastMod = "Tue, 14 Nov 2023 22:13:20 GMT";
const std::string kHello = "Hello, world!\n";  // 14 bytes

void write_file(const std::string& path, const std::string& data, time_t mtime = kMtime) {
  std::ofstream f(path, std::ios::binary);
  f << data;
  f.close();
  struct timespec ts[2] = {{mtime, 0}, {mtime, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), ts, 0), 0) << path;
}

void mkdir_p(const std::string& p) { ASSERT_EQ(::mkdir(p.c_str(), 0755), 0) << p; }

std::string digits100() {
  std::string s;
  for (int i = 0; i < 100; ++i) s += static_cast<char>('0' + i % 10);
  return s;
}

void rm_rf(const std::string& p) {
  std::string cmd = "rm -rf '" + p + "'";
  (void)!std::system(cmd.c_str());
}

class StaticFiles : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/mg-static-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    g_base = tmpl;
    g_root = g_base + "/root";
    g_out = g_base + "/outside";
    mkdir_p(g_root);
    mkdir_p(g_out);
    write_file(g_root + "/hello.txt", kHello);
    write_file(g_root + "/data.bin", digits100());
    write_file(g_root + "/empty.txt", "");
    write_file(g_root + "/page.html", "<p>hi</p>");
    write_file(g_root + "/app.js", "console.log('plain');");
    write_file(g_root + "/app.js.gz", "GZIPPEDJS", kMtime + 5);
    write_file(g_root + "/%2e%2e", "literal");
    mkdir_p(g_root + "/sub");
    write_file(g_root + "/sub/index.html", "<h1>sub</h1>");
    write_file(g_root + "/sub/index.shtml", "ignored, index.html wins");
    mkdir_p(g_root + "/sub2");
    write_file(g_root + "/sub2/index.shtml", "<h1>shtml</h1>");
    mkdir_p(g_root + "/sub3");
    write_file(g_root + "/sub3/index.html.gz", "GZHTML");
    mkdir_p(g_root + "/list");
    write_file(g_root + "/list/a&b<c>.txt", "x");
    write_file(g_root + "/list/space name.txt", "12345");
    write_file(g_root + "/list/q\"'.txt", "");
    write_file(g_root + "/list/colon:x", "");
    mkdir_p(g_root + "/list/dir x");
    ASSERT_EQ(::mkfifo((g_root + "/fifo").c_str(), 0644), 0);
    // symlinks: inside the root (followed) and escaping it (refused)
    ASSERT_EQ(::symlink("hello.txt", (g_root + "/link_in").c_str()), 0);
    ASSERT_EQ(::symlink("sub", (g_root + "/dirlink_in").c_str()), 0);
    ASSERT_EQ(::symlink("../outside/secret.txt", (g_root + "/link_out").c_str()), 0);
    ASSERT_EQ(::symlink(g_out.c_str(), (g_root + "/dirlink_out").c_str()), 0);
    write_file(g_out + "/secret.txt", "SECRET");
    write_file(g_out + "/index.html", "SECRET INDEX");
    write_file(g_base + "/404.html", "<h1>custom 404</h1>");
    // prefix mapping trees
    mkdir_p(g_base + "/A");
    mkdir_p(g_base + "/B");
    mkdir_p(g_base + "/C");
    write_file(g_base + "/A/f.txt", "from A");
    write_file(g_base + "/B/f.txt", "from B");
    write_file(g_base + "/C/f.txt", "from C");
    mkdir_p(g_base + "/A/img");
    write_file(g_base + "/A/img/f.txt", "from A/img");
  }
  static void TearDownTestSuite() { rm_rf(g_base); }

  void TearDown() override { close_fd(); }

  void close_fd() {
    if (out.fd >= 0) ::close(out.fd);
    out.fd = -1;
  }

  ServeError file(Req& q, const std::string& path, std::string_view extra = "",
                  std::string_view mime = "") {
    close_fd();
    return mg::http::serve_file(q.get(), path, extra, mime, out);
  }
  ServeError dir(Req& q, std::string_view root = {}, std::string_view extra = "",
                 std::string_view page404 = "", size_t max_path = 4096,
                 std::string_view mime = "") {
    close_fd();
    std::string r = root.empty() ? g_root : std::string(root);
    return mg::http::serve_dir(q.get(), r, extra, mime, page404, max_path, out);
  }
  // Bytes the caller would stream from the fd.
  std::string streamed() const {
    if (out.fd < 0) return {};
    std::string s(out.file_length, '\0');
    ssize_t n = ::pread(out.fd, s.data(), s.size(), static_cast<off_t>(out.file_offset));
    EXPECT_EQ(n, static_cast<ssize_t>(s.size()));
    return s;
  }

  FileResponse out;
};

std::string etag_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0);
  return "\"" + std::to_string(st.st_mtime) + "." + std::to_string(st.st_size) + "\"";
}

std::string hello_200_head(std::string_view extra = "") {
  return "HTTP/1.1 200 OK\r\n"
         "Content-Type: text/plain; charset=utf-8\r\n"
         "Etag: \"1700000000.14\"\r\n"
         "Last-Modified: " + std::string(kLastMod) + "\r\n"
         "Content-Length: 14\r\n" + std::string(extra) + "\r\n";
}

const std::string k404 =
    "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\n";
const std::string k400 =
    "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\n";

// ======================================================================================
// MIME types

TEST(MimeType, Table) {
  using mg::http::mime_type_for;
  const std::pair<const char*, const char*> rows[] = {
      {"a.html", "text/html; charset=utf-8"},  {"a.htm", "text/html; charset=utf-8"},
      {"a.shtml", "text/html; charset=utf-8"}, {"a.css", "text/css; charset=utf-8"},
      {"a.js", "text/javascript; charset=utf-8"}, {"a.mjs", "text/javascript; charset=utf-8"},
      {"a.txt", "text/plain; charset=utf-8"},  {"a.json", "application/json"},
      {"a.gif", "image/gif"},                  {"a.png", "image/png"},
      {"a.jpg", "image/jpeg"},                 {"a.jpeg", "image/jpeg"},
      {"a.svg", "image/svg+xml"},              {"a.ico", "image/x-icon"},
      {"a.webp", "image/webp"},                {"a.woff", "font/woff"},
      {"a.ttf", "font/ttf"},                   {"a.pdf", "application/pdf"},
      {"a.zip", "application/zip"},            {"a.gz", "application/gzip"},
      {"a.tgz", "application/tar-gz"},         {"a.csv", "text/csv"},
      {"a.doc", "application/msword"},         {"a.exe", "application/octet-stream"},
      {"a.mp3", "audio/mpeg"},                 {"a.wav", "audio/wav"},
      {"a.mp4", "video/mp4"},                  {"a.mpeg", "video/mpeg"},
      {"a.mov", "video/quicktime"},            {"a.avi", "video/x-msvideo"},
      {"a.3gp", "video/3gpp"},                 {"a.unknown", "text/plain; charset=utf-8"},
      {"noext", "text/plain; charset=utf-8"},  {".bashrc", "text/plain; charset=utf-8"},
      {"dir.html/file", "text/plain; charset=utf-8"}, {"/x/y.tar.gz", "application/gzip"},
      {"trailing.", "text/plain; charset=utf-8"},
  };
  for (auto& [name, type] : rows) EXPECT_EQ(mime_type_for(name, ""), type) << name;
}

TEST(MimeType, CaseSensitive) {
  EXPECT_EQ(mg::http::mime_type_for("A.HTML", ""), "text/plain; charset=utf-8");
  EXPECT_EQ(mg::http::mime_type_for("a.Png", ""), "text/plain; charset=utf-8");
}

TEST(MimeType, Overrides) {
  using mg::http::mime_type_for;
  EXPECT_EQ(mime_type_for("a.foo", "foo=application/x-foo"), "application/x-foo");
  EXPECT_EQ(mime_type_for("a.html", "foo=x/y,html=text/x-custom"), "text/x-custom");
  EXPECT_EQ(mime_type_for("a.css", "foo=x/y,html=text/x-custom"), "text/css; charset=utf-8");
  EXPECT_EQ(mime_type_for("a.FOO", "foo=x/y"), "text/plain; charset=utf-8");
  EXPECT_EQ(mime_type_for("a.png", "*=application/octet-stream"), "application/octet-stream");
  EXPECT_EQ(mime_type_for("noext", "*=application/octet-stream"), "application/octet-stream");
  // first matching entry wins
  EXPECT_EQ(mime_type_for("a.js", "js=one/x,*=two/y"), "one/x");
  EXPECT_EQ(mime_type_for("a.js", "*=two/y,js=one/x"), "two/y");
  // entries with control characters (header injection) are skipped
  EXPECT_EQ(mime_type_for("a.js", "js=a\r\nX-Evil: 1"), "text/javascript; charset=utf-8");
  EXPECT_EQ(mime_type_for("a.js", "garbage,js="), "text/javascript; charset=utf-8");
}

// ======================================================================================
// extra_headers validation

TEST_F(StaticFiles, ExtraHeadersAppendedAndCrlfAdded) {
  Req q("/hello.txt");
  ASSERT_EQ(file(q, g_root + "/hello.txt", "X-A: 1\r\nX-B: 2"), ServeError::None);
  EXPECT_EQ(out.head, hello_200_head("X-A: 1\r\nX-B: 2\r\n"));
  ASSERT_EQ(file(q, g_root + "/hello.txt", "X-A: 1\r\n"), ServeError::None);
  EXPECT_EQ(out.head, hello_200_head("X-A: 1\r\n"));
}

TEST_F(StaticFiles, ExtraHeadersRejected) {
  const std::string bad[] = {"\r\n",          "X-A: 1\r\n\r\n",   "X-A: 1\r\n\r\nX-B: 2",
                             "X-A: 1\nX-B: 2", "X-A: 1\rX-B: 2",  "X-A: 1\n",
                             "X-A: 1\r",       std::string("X-A: a\0b", 8), "NoColon\r\n",
                             " X-A: folded",   "X A: 1",          ": empty-name",
                             "X-A: bell\x07"};
  for (const auto& e : bad) {
    Req q("/hello.txt");
    EXPECT_EQ(file(q, g_root + "/hello.txt", e), ServeError::BadExtraHeaders) << e;
    EXPECT_EQ(out.status, 0);
    EXPECT_TRUE(out.head.empty());
    EXPECT_EQ(out.fd, -1);
    EXPECT_EQ(dir(q, {}, e), ServeError::BadExtraHeaders) << e;
    EXPECT_TRUE(out.head.empty());
  }
}

TEST_F(StaticFiles, ExtraHeadersFramingDroppedAndContentTypeReplaces) {
  Req q("/hello.txt");
  ASSERT_EQ(file(q, g_root + "/hello.txt",
                 "content-length: 99\r\nTransfer-Encoding: chunked\r\nX-K: v\t w"),
            ServeError::None);
  EXPECT_EQ(out.head, hello_200_head("X-K: v\t w\r\n"));
  ASSERT_EQ(file(q, g_root + "/hello.txt", "content-type: text/x-mine\r\n"), ServeError::None);
  EXPECT_EQ(out.head,
            "HTTP/1.1 200 OK\r\nEtag: \"1700000000.14\"\r\nLast-Modified: " +
                std::string(kLastMod) +
                "\r\nContent-Length: 14\r\ncontent-type: text/x-mine\r\n\r\n");
}

// ======================================================================================
// serve_file

TEST_F(StaticFiles, FileOk) {
  Req q("/whatever");
  ASSERT_EQ(file(q, g_root + "/hello.txt"), ServeError::None);
  EXPECT_EQ(out.status, 200);
  EXPECT_EQ(out.head, hello_200_head());
  EXPECT_TRUE(out.body.empty());
  ASSERT_GE(out.fd, 0);
  EXPECT_EQ(out.file_offset, 0u);
  EXPECT_EQ(out.file_length, 14u);
  EXPECT_EQ(streamed(), kHello);
  EXPECT_TRUE(::fcntl(out.fd, F_GETFD) & FD_CLOEXEC);
  EXPECT_FALSE(::fcntl(out.fd, F_GETFL) & O_NONBLOCK);
}

TEST_F(StaticFiles, FileMimeFromNameAndOverrides) {
  Req q("/");
  ASSERT_EQ(file(q, g_root + "/page.html"), ServeError::None);
  EXPECT_NE(out.head.find("\r\nContent-Type: text/html; charset=utf-8\r\n"), std::string::npos);
  ASSERT_EQ(file(q, g_root + "/page.html", "", "html=text/x-over"), ServeError::None);
  EXPECT_NE(out.head.find("\r\nContent-Type: text/x-over\r\n"), std::string::npos);
  ASSERT_EQ(file(q, g_root + "/hello.txt", "", "*=application/octet-stream"), ServeError::None);
  EXPECT_NE(out.head.find("\r\nContent-Type: application/octet-stream\r\n"), std::string::npos);
}

TEST_F(StaticFiles, FileEmpty) {
  Req q("/");
  ASSERT_EQ(file(q, g_root + "/empty.txt"), ServeError::None);
  EXPECT_EQ(out.status, 200);
  EXPECT_NE(out.head.find("\r\nContent-Length: 0\r\n"), std::string::npos);
  EXPECT_NE(out.head.find("Etag: \"1700000000.0\"\r\n"), std::string::npos);
  EXPECT_EQ(out.fd, -1);  // nothing to stream
}

TEST_F(StaticFiles, FileMissing) {
  Req q("/");
  ASSERT_EQ(file(q, g_root + "/nope.txt"), ServeError::None);
  EXPECT_EQ(out.status, 404);
  EXPECT_EQ(out.head, k404);
  EXPECT_EQ(out.body, "Not found\n");
  EXPECT_EQ(out.fd, -1);
  // extra headers go between Content-Type and Content-Length
  ASSERT_EQ(file(q, g_root + "/nope.txt", "X-A: 1"), ServeError::None);
  EXPECT_EQ(out.head,
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nX-A: 1\r\nContent-Length: "
            "10\r\n\r\n");
  // a Content-Type in extra_headers replaces text/plain
  ASSERT_EQ(file(q, g_root + "/nope.txt", "Content-Type: text/html\r\n"), ServeError::None);
  EXPECT_EQ(out.head,
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: 10\r\n\r\n");
  // empty path
  ASSERT_EQ(file(q, ""), ServeError::None);
  EXPECT_EQ(out.status, 404);
}

TEST_F(StaticFiles, FileDirectoryAndFifoAreMissing) {
  Req q("/");
  ASSERT_EQ(file(q, g_root + "/sub"), ServeError::None);
  EXPECT_EQ(out.status, 404);
  ASSERT_EQ(file(q, g_root + "/fifo"), ServeError::None);  // must not block
  EXPECT_EQ(out.status, 404);
}

TEST_F(StaticFiles, FileHead) {
  Req q("/", "HEAD");
  ASSERT_EQ(file(q, g_root + "/hello.txt"), ServeError::None);
  EXPECT_EQ(out.status, 200);
  EXPECT_EQ(out.head, hello_200_head());
  EXPECT_EQ(out.fd, -1);
  EXPECT_TRUE(out.body.empty());
  ASSERT_EQ(file(q, g_root + "/nope"), ServeError::None);
  EXPECT_EQ(out.head, k404);
  EXPECT_TRUE(out.body.empty());
}

TEST_F(StaticFiles, FileGzipVariant) {
  const std::string gz_etag = etag_of(g_root + "/app.js.gz");
  for (const char* ae : {"gzip", "gzip, deflate, br", "br;q=1.0, GZIP;q=0.5", "x-gzip"}) {
    Req q("/app.js");
    q.h("Accept-Encoding", ae);
    ASSERT_EQ(file(q, g_root + "/app.js"), ServeError::None);
    EXPECT_EQ(out.head, "HTTP/1.1 200 OK\r\n"
                        "Content-Type: text/javascript; charset=utf-8\r\n"
                        "Etag: " + gz_etag + "\r\n"
                        "Last-Modified: Tue, 14 Nov 2023 22:13:25 GMT\r\n"
                        "Content-Length: 9\r\n"
                        "Content-Encoding: gzip\r\n\r\n")
        << ae;
    EXPECT_EQ(streamed(), "GZIPPEDJS");
  }
  for (const char* ae : {"deflate", "gzip;q=0", "gzip; q=0.000, br", "*"}) {
    Req q("/app.js");
    q.h("Accept-Encoding", ae);
    ASSERT_EQ(file(q, g_root + "/app.js"), ServeError::None);
    EXPECT_EQ(out.head.find("Content-Encoding"), std::string::npos) << ae;
    EXPECT_EQ(streamed(), "console.log('plain');");
  }
  // no .gz next to the file: the plain file
  Req q("/");
  q.h("Accept-Encoding", "gzip");
  ASSERT_EQ(file(q, g_root + "/hello.txt"), ServeError::None);
  EXPECT_EQ(out.head, hello_200_head());
}

TEST_F(StaticFiles, FileIfNoneMatch) {
  const std::string e = "\"1700000000.14\"";
  const std::string k304 = "HTTP/1.1 304 Not Modified\r\nEtag: " + e + "\r\n\r\n";
  for (std::string v : {e, std::string("*"), "\"x\", " + e, "W/" + e, "\"a\",W/" + e + " ,\"b\"",
                        " " + e + " "}) {
    Req q("/");
    q.h("If-None-Match", v);
    ASSERT_EQ(file(q, g_root + "/hello.txt"), ServeError::None);
    EXPECT_EQ(out.status, 304) << v;
    EXPECT_EQ(out.head, k304) << v;
    EXPECT_EQ(out.fd, -1);
    EXPECT_TRUE(out.body.empty());
  }
  for (std::string v : {std::string("\"1700000000.15\""), std::string("1700000000.14"),
                        std::string("\"1700000000.1\""), std::string(""),
                        std::string("\"x\" junk ") + e, std::string("\"a,") + e}) {
    Req q("/");
    q.h("If-None-Match", v);
    ASSERT_EQ(file(q, g_root + "/hello.txt"), ServeError::None);
    EXPECT_EQ(out.status, 200) << v;
  }
  // extra headers after Etag; also for HEAD and any method
  Req q("/", "POST");
  q.h("if-none-match", e);
  ASSERT_EQ(file(q, g_root + "/hello.txt", "Cache-Control: no-cache"), ServeError::None);
  EXPECT_EQ(out.head,
            "HTTP/1.1 304 Not Modified\r\nEtag: " + e + "\r\nCache-Control: no-cache\r\n\r\n");
  // a second If-None-Match field is considered too
  Req q2("/");
  q2.h("If-None-Match", "\"zzz\"").h("If-None-Match", e);
  ASSERT_EQ(file(q2, g_root + "/hello.txt"), ServeError::None);
  EXPECT_EQ(out.status, 304);
}

TEST_F(StaticFiles, FileIfModifiedSince) {
  struct Case {
    const char* date;
    int status;
  } cases[] = {
      {"Tue, 14 Nov 2023 22:13:20 GMT", 304},  // equal
      {"Tue, 14 Nov 2023 22:13:21 GMT", 304},  // later
      {"Wed, 15 Nov 2023 00:00:00 GMT", 304},
      {"Tue, 14 Nov 2023 22:13:19 GMT", 200},  // earlier
      {"Tuesday, 14-Nov-23 22:13:20 GMT", 304},  // RFC 850
      {"Monday, 13-Nov-23 22:13:20 GMT", 200},
      {"Tue Nov 14 22:13:20 2023", 304},  // asctime
      {"Sun Nov  6 08:49:37 1994", 200},
      {"not a date", 200},
      {"Tue, 14 Nov 2023 22:13:20 UTC", 200},
      {"Tue, 14 Nov 2023 22:13:20 GMT junk", 200},
      {"", 200}, {"ab", 200}, {"Sun", 200}, {"Sun,", 200}, {"x,", 200}, {"Sun Nov", 200},
      {"Tue, 14 Nov 2023 22:13:20", 200}, {"Tue, 32 Nov 2023 22:13:20 GMT", 200},
      {"Tue, 14 Nov 2023 24:13:20 GMT", 200}, {"Tue, 14 Xyz 2023 22:13:20 GMT", 200},
  };
  for (const auto& c : cases) {
    Req q("/");
    q.h("If-Modified-Since", c.date);
    ASSERT_EQ(file(q, g_root + "/hello.txt"), ServeError::None);
    EXPECT_EQ(out.status, c.status) << c.date;
    if (c.status == 304) {
      EXPECT_EQ(out.head, "HTTP/1.1 304 Not Modified\r\nEtag: \"1700000000.14\"\r\n\r\n");
      EXPECT_EQ(out.fd, -1);
    }
  }
  {  // HEAD too
    Req q("/", "HEAD");
    q.h("If-Modified-Since", kLastMod);
    ASSERT_EQ(file(q, g_root + "/hello.txt"), ServeError::None);
    EXPECT_EQ(out.status, 304);
  }
  {  // only GET/HEAD (RFC 9110 §13.1.3)
    Req q("/", "POST");
    q.h("If-Modified-Since", kLastMod);
    ASSERT_EQ(file(q, g_root + "/hello.txt"), ServeError::None);
    EXPECT_EQ(out.status, 200);
  }
  {  // If-None-Match present and not matching: IMS ignored
    Req q("/");
    q.h("If-None-Match", "\"other\"").h("If-Modified-Since", kLastMod);
    ASSERT_EQ(file(q, g_root + "/hello.txt"), ServeError::None);
    EXPECT_EQ(out.status, 200);
  }
}

TEST_F(StaticFiles, FileRanges) {
  const std::string path = g_root + "/data.bin";  // "0123456789" * 10
  const std::string all = digits100();
  struct Case {
    const char* range;
    uint64_t first, last;
  } ok[] = {
      {"bytes=0-9", 0, 9},     {"bytes=10-19", 10, 19}, {"bytes=95-", 95, 99},
      {"bytes=0-", 0, 99},     {"bytes=-5", 95, 99},    {"bytes=-100", 0, 99},
      {"bytes=-1000", 0, 99},  {"bytes=90-1000", 90, 99}, {"bytes=99-99", 99, 99},
      {"Bytes=1-2", 1, 2},     {" bytes=3-4 ", 3, 4},
  };
  for (const auto& c : ok) {
    Req q("/");
    q.h("Range", c.range);
    ASSERT_EQ(file(q, path), ServeError::None);
    EXPECT_EQ(out.status, 206) << c.range;
    uint64_t n = c.last - c.first + 1;
    EXPECT_EQ(out.head, "HTTP/1.1 206 Partial Content\r\n"
                        "Content-Type: text/plain; charset=utf-8\r\n"
                        "Etag: \"1700000000.100\"\r\n"
                        "Last-Modified: " + std::string(kLastMod) + "\r\n"
                        "Content-Length: " + std::to_string(n) + "\r\n"
                        "Content-Range: bytes " + std::to_string(c.first) + "-" +
                        std::to_string(c.last) + "/100\r\n\r\n")
        << c.range;
    EXPECT_EQ(out.file_offset, c.first);
    EXPECT_EQ(out.file_length, n);
    EXPECT_EQ(streamed(), all.substr(c.first, n));
  }
  for (const char* r : {"bytes=100-", "bytes=100-200", "bytes=-0", "bytes=1000-1"}) {
    Req q("/");
    q.h("Range", r);
    ASSERT_EQ(file(q, path, "X-A: 1"), ServeError::None);
    if (std::string(r) == "bytes=1000-1") {  // last < first: malformed, ignored
      EXPECT_EQ(out.status, 200);
      continue;
    }
    EXPECT_EQ(out.status, 416) << r;
    EXPECT_EQ(out.head, "HTTP/1.1 416 Requested Range Not Satisfiable\r\n"
                        "Content-Type: text/plain; charset=utf-8\r\n"
                        "Etag: \"1700000000.100\"\r\n"
                        "Last-Modified: " + std::string(kLastMod) + "\r\n"
                        "Content-Length: 0\r\n"
                        "Content-Range: bytes */100\r\n"
                        "X-A: 1\r\n\r\n")
        << r;
    EXPECT_EQ(out.fd, -1);
    EXPECT_TRUE(out.body.empty());
  }
  // multiple or malformed ranges: ignored, whole file
  for (const char* r : {"bytes=0-1,5-6", "bytes=0-1, 5-6", "bytes=5-2", "bytes=x-", "bytes=",
                        "bytes=-", "bytes=1", "items=0-1", "bytes 0-1", "bytes=0x1-2",
                        "bytes=+1-2", "bytes=1--2", "bytes=99999999999999999999999-",
                        "bytes=-99999999999999999999999", ""}) {
    Req q("/");
    q.h("Range", r);
    ASSERT_EQ(file(q, path), ServeError::None);
    EXPECT_EQ(out.status, 200) << r;
    EXPECT_EQ(out.head.find("Content-Range"), std::string::npos) << r;
    EXPECT_EQ(out.file_length, 100u) << r;
  }
  // empty file: nothing is satisfiable
  for (const char* r : {"bytes=0-", "bytes=-1", "bytes=0-0"}) {
    Req q("/");
    q.h("Range", r);
    ASSERT_EQ(file(q, g_root + "/empty.txt"), ServeError::None);
    EXPECT_EQ(out.status, 416) << r;
    EXPECT_NE(out.head.find("Content-Range: bytes */0\r\n"), std::string::npos);
  }
}

TEST_F(StaticFiles, FileRangeHeadAndGzipAndIfRange) {
  {
    Req q("/", "HEAD");
    q.h("Range", "bytes=10-19");
    ASSERT_EQ(file(q, g_root + "/data.bin"), ServeError::None);
    EXPECT_EQ(out.status, 206);
    EXPECT_NE(out.head.find("Content-Length: 10\r\nContent-Range: bytes 10-19/100\r\n\r\n"),
              std::string::npos);
    EXPECT_EQ(out.fd, -1);
  }
  {  // range on the gzip variant: Content-Encoding before Content-Range
    Req q("/");
    q.h("Range", "bytes=0-3").h("Accept-Encoding", "gzip");
    ASSERT_EQ(file(q, g_root + "/app.js"), ServeError::None);
    EXPECT_EQ(out.status, 206);
    EXPECT_NE(out.head.find("Content-Length: 4\r\nContent-Encoding: gzip\r\n"
                            "Content-Range: bytes 0-3/9\r\n\r\n"),
              std::string::npos);
    EXPECT_EQ(streamed(), "GZIP");
  }
  {  // If-Range matching etag / date: range honoured
    for (const char* ir : {"\"1700000000.100\"", "Tue, 14 Nov 2023 22:13:20 GMT"}) {
      Req q("/");
      q.h("Range", "bytes=0-0").h("If-Range", ir);
      ASSERT_EQ(file(q, g_root + "/data.bin"), ServeError::None);
      EXPECT_EQ(out.status, 206) << ir;
    }
    for (const char* ir : {"\"other\"", "W/\"1700000000.100\"", "Wed, 15 Nov 2023 22:13:20 GMT",
                           "garbage"}) {
      Req q("/");
      q.h("Range", "bytes=0-0").h("If-Range", ir);
      ASSERT_EQ(file(q, g_root + "/data.bin"), ServeError::None);
      EXPECT_EQ(out.status, 200) << ir;
    }
  }
  {  // 304 wins over Range
    Req q("/");
    q.h("Range", "bytes=0-0").h("If-None-Match", "*");
    ASSERT_EQ(file(q, g_root + "/data.bin"), ServeError::None);
    EXPECT_EQ(out.status, 304);
  }
}

// ======================================================================================
// serve_dir

TEST_F(StaticFiles, DirServesFile) {
  Req q("/hello.txt");
  ASSERT_EQ(dir(q), ServeError::None);
  EXPECT_EQ(out.status, 200);
  EXPECT_EQ(out.head, hello_200_head());
  EXPECT_EQ(streamed(), kHello);
  // the query is not part of the path
  Req q2("/hello.txt");
  q2.query = "a=../../x";
  ASSERT_EQ(dir(q2), ServeError::None);
  EXPECT_EQ(out.status, 200);
  // root given with a trailing slash; percent-encoded name
  Req q3("/h%65llo.txt");
  ASSERT_EQ(dir(q3, g_root + "/"), ServeError::None);
  EXPECT_EQ(out.status, 200);
  EXPECT_EQ(streamed(), kHello);
}

TEST_F(StaticFiles, DirMethodNotChecked) {
  for (const char* m : {"POST", "DELETE", "PUT", "get"}) {
    Req q("/hello.txt", m);
    ASSERT_EQ(dir(q), ServeError::None);
    EXPECT_EQ(out.status, 200) << m;
    EXPECT_EQ(streamed(), kHello);
  }
}

TEST_F(StaticFiles, DirTraversalRejected) {
  const std::string attempts[] = {
      "/../etc/passwd",  "/%2e%2e/",          "/%2e%2e",        "/a/%2E%2E/%2e%2e/",
      "/..",             "/sub/../hello.txt", "/..\\..\\etc",   "/%2e%2e%5c%2e%2e%5cetc",
      "/sub\\..\\x",     "/sub/..%5c",        "/%2E.",          "/.%2e/hello.txt",
      "/x%00y",          "/%00",              "/%zz",           "/%2",
      "/%",              "/a%2",              "/%g0",           "/hello.txt%",
      "/x%0",
  };
  for (const auto& a : attempts) {
    Req q(a);
    ASSERT_EQ(dir(q), ServeError::None) << a;
    EXPECT_EQ(out.status, 400) << a;
    EXPECT_EQ(out.head, k400) << a;
    EXPECT_EQ(out.body, "Invalid path") << a;
    EXPECT_EQ(out.fd, -1);
    // rejected before any file system access: same answer for a root that does not exist
    ASSERT_EQ(dir(q, g_base + "/does-not-exist"), ServeError::None);
    EXPECT_EQ(out.status, 400) << a;
  }
  // control bytes in the raw URI
  for (std::string a : {std::string("/a\r\nX: y"), std::string("/a b"), std::string("/\x7f")}) {
    Req q(a);
    ASSERT_EQ(dir(q), ServeError::None);
    EXPECT_EQ(out.status, 400);
  }
  // names that merely contain dots are fine (404 because they do not exist)
  for (const char* ok : {"/..foo", "/foo..", "/...", "/a/.../b", "/%2e%2e%2e"}) {
    Req q(ok);
    ASSERT_EQ(dir(q), ServeError::None);
    EXPECT_EQ(out.status, 404) << ok;
  }
  // decoded exactly once: %252e%252e is the literal file name "%2e%2e"
  Req q("/%252e%252e");
  ASSERT_EQ(dir(q), ServeError::None);
  EXPECT_EQ(out.status, 200);
  EXPECT_EQ(streamed(), "literal");
  // HEAD: same head, no body
  Req h("/../x", "HEAD");
  ASSERT_EQ(dir(h), ServeError::None);
  EXPECT_EQ(out.head, k400);
  EXPECT_TRUE(out.body.empty());
  // extra headers on 400
  Req e("/%zz");
  ASSERT_EQ(dir(e, {}, "X-A: 1"), ServeError::None);
  EXPECT_EQ(out.head,
            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nX-A: 1\r\nContent-Length: "
            "12\r\n\r\n");
}

TEST_F(StaticFiles, DirMaxPath) {
  Req q("/hello.txt");
  const size_t n = g_root.size() + std::string("/hello.txt").size();
  ASSERT_EQ(dir(q, {}, "", "", n), ServeError::None);
  EXPECT_EQ(out.status, 200);
  ASSERT_EQ(dir(q, {}, "", "", n - 1), ServeError::None);
  EXPECT_EQ(out.status, 400);
  EXPECT_EQ(out.head,
            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: "
            "18\r\n\r\n");
  EXPECT_EQ(out.body, "Exceeded path size");
  Req big("/" + std::string(5000, 'a'));
  ASSERT_EQ(dir(big), ServeError::None);
  EXPECT_EQ(out.body, "Exceeded path size");
}

TEST_F(StaticFiles, DirRedirect) {
  Req q("/sub");
  ASSERT_EQ(dir(q), ServeError::None);
  EXPECT_EQ(out.status, 301);
  EXPECT_EQ(out.head,
            "HTTP/1.1 301 Moved Permanently\r\nLocation: /sub/\r\nContent-Length: 0\r\n\r\n");
  EXPECT_TRUE(out.body.empty());
  EXPECT_EQ(out.fd, -1);
  Req l("/list/dir%20x");
  ASSERT_EQ(dir(l, {}, "X-A: 1"), ServeError::None);
  EXPECT_EQ(out.head, "HTTP/1.1 301 Moved Permanently\r\nLocation: /list/dir%20x/\r\nX-A: "
                      "1\r\nContent-Length: 0\r\n\r\n");
  // HEAD and POST are redirected the same way
  Req h("/sub", "HEAD");
  ASSERT_EQ(dir(h), ServeError::None);
  EXPECT_EQ(out.status, 301);
}

TEST_F(StaticFiles, DirIndexFiles) {
  Req q("/sub/");
  ASSERT_EQ(dir(q), ServeError::None);
  EXPECT_EQ(out.status, 200);
  EXPECT_NE(out.head.find("Content-Type: text/html; charset=utf-8\r\n"), std::string::npos);
  EXPECT_EQ(streamed(), "<h1>sub</h1>");

  Req q2("/sub2/");
  ASSERT_EQ(dir(q2), ServeError::None);
  EXPECT_EQ(out.status, 200);
  EXPECT_EQ(streamed(), "<h1>shtml</h1>");

  Req q3("/sub3/");  // only index.html.gz: gzip of index.html, whatever Accept-Encoding says
  ASSERT_EQ(dir(q3), ServeError::None);
  EXPECT_EQ(out.status, 200);
  EXPECT_EQ(out.head, "HTTP/1.1 200 OK\r\n"
                      "Content-Type: text/html; charset=utf-8\r\n"
                      "Etag: \"1700000000.6\"\r\n"
                      "Last-Modified: " + std::string(kLastMod) + "\r\n"
                      "Content-Length: 6\r\n"
                      "Content-Encoding: gzip\r\n\r\n");
  EXPECT_EQ(streamed(), "GZHTML");

  Req q4("/dirlink_in/");  // symlinked directory inside the root
  ASSERT_EQ(dir(q4), ServeError::None);
  EXPECT_EQ(out.status, 200);
  EXPECT_EQ(streamed(), "<h1>sub</h1>");
}

TEST_F(StaticFiles, DirListing) {
  Req q("/list/");
  ASSERT_EQ(dir(q), ServeError::None);
  EXPECT_EQ(out.status, 200);
  EXPECT_EQ(out.fd, -1);
  const std::string b = out.body;
  EXPECT_EQ(out.head, "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                      "Content-Length: " + std::to_string(b.size()) + "\r\n\r\n");
  EXPECT_NE(b.find("<title>Index of /list/</title>"), std::string::npos);
  EXPECT_NE(b.find("<a href=\"../\">..</a>"), std::string::npos);
  EXPECT_NE(b.find("<a href=\"a%26b%3Cc%3E.txt\">a&amp;b&lt;c&gt;.txt</a>"), std::string::npos)
      << b;
  EXPECT_NE(b.find("<a href=\"space%20name.txt\">space name.txt</a>"), std::string::npos);
  EXPECT_NE(b.find("<a href=\"q%22%27.txt\">q&quot;&#39;.txt</a>"), std::string::npos);
  EXPECT_NE(b.find("<a href=\"colon%3Ax\">colon:x</a>"), std::string::npos);
  EXPECT_NE(b.find("<a href=\"dir%20x/\">dir x/</a>"), std::string::npos);
  EXPECT_NE(b.find("2023-11-14 22:13:20"), std::string::npos);
  EXPECT_NE(b.find(">5</td>"), std::string::npos);  // size of "space name.txt"
  EXPECT_EQ(b.find("a&b"), std::string::npos);      // never unescaped
  EXPECT_EQ(b.find("<c>"), std::string::npos);
  for (const char* banner : {"ongoose", "ymongoose", "ersion"})
    EXPECT_EQ(b.find(banner), std::string::npos) << banner;

  // the root itself; the title shows the decoded URI, escaped
  Req r("/");
  ASSERT_EQ(dir(r), ServeError::None);
  EXPECT_EQ(out.status, 200);
  EXPECT_NE(out.body.find("<title>Index of /</title>"), std::string::npos);
  EXPECT_NE(out.body.find("<a href=\"sub/\">sub/</a>"), std::string::npos);
  EXPECT_NE(out.body.find("<a href=\"%252e%252e\">%2e%2e</a>"), std::string::npos);

  Req d("/list/dir%20x/");
  ASSERT_EQ(dir(d), ServeError::None);
  EXPECT_NE(out.body.find("<title>Index of /list/dir x/</title>"), std::string::npos);

  // HEAD: same Content-Length, no body
  Req h("/list/", "HEAD");
  ASSERT_EQ(dir(h), ServeError::None);
  EXPECT_EQ(out.status, 200);
  EXPECT_TRUE(out.body.empty());
  EXPECT_EQ(out.head, "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                      "Content-Length: " + std::to_string(b.size()) + "\r\n\r\n");
}

TEST_F(StaticFiles, DirSymlinks) {
  Req in("/link_in");
  ASSERT_EQ(dir(in), ServeError::None);
  EXPECT_EQ(out.status, 200);
  EXPECT_EQ(streamed(), kHello);
  for (const char* u : {"/link_out", "/dirlink_out", "/dirlink_out/", "/dirlink_out/secret.txt",
                        "/dirlink_out/index.html"}) {
    Req q(u);
    ASSERT_EQ(dir(q), ServeError::None);
    EXPECT_EQ(out.status, 404) << u;
    EXPECT_EQ(out.head, k404) << u;
    EXPECT_EQ(out.fd, -1);
  }
  // serve_file serves whatever path the program passes (spec §8.4)
  Req f("/");
  ASSERT_EQ(file(f, g_root + "/link_out"), ServeError::None);
  EXPECT_EQ(out.status, 200);
  EXPECT_EQ(streamed(), "SECRET");
}

TEST_F(StaticFiles, DirGzipVariant) {
  Req q("/app.js");
  q.h("Accept-Encoding", "gzip");
  ASSERT_EQ(dir(q), ServeError::None);
  EXPECT_NE(out.head.find("Content-Encoding: gzip\r\n"), std::string::npos);
  EXPECT_EQ(streamed(), "GZIPPEDJS");
  Req r("/app.js.gz");
  ASSERT_EQ(dir(r), ServeError::None);
  EXPECT_NE(out.head.find("Content-Type: application/gzip\r\n"), std::string::npos);
  EXPECT_EQ(out.head.find("Content-Encoding"), std::string::npos);
}

TEST_F(StaticFiles, DirMissingAndPage404) {
  Req q("/nope.txt");
  ASSERT_EQ(dir(q), ServeError::None);
  EXPECT_EQ(out.status, 404);
  EXPECT_EQ(out.head, k404);
  EXPECT_EQ(out.body, "Not found\n");
  // page404 readable: served with status 200 (compat)
  ASSERT_EQ(dir(q, {}, "", g_base + "/404.html"), ServeError::None);
  EXPECT_EQ(out.status, 200);
  EXPECT_NE(out.head.find("Content-Type: text/html; charset=utf-8\r\n"), std::string::npos);
  EXPECT_EQ(streamed(), "<h1>custom 404</h1>");
  // also for targets escaping the root
  Req o("/link_out");
  ASSERT_EQ(dir(o, {}, "", g_base + "/404.html"), ServeError::None);
  EXPECT_EQ(out.status, 200);
  EXPECT_EQ(streamed(), "<h1>custom 404</h1>");
  // page404 not readable: plain 404
  ASSERT_EQ(dir(q, {}, "", g_base + "/missing404.html"), ServeError::None);
  EXPECT_EQ(out.status, 404);
  EXPECT_EQ(out.head, k404);
  // a missing root
  ASSERT_EQ(dir(q, g_base + "/does-not-exist"), ServeError::None);
  EXPECT_EQ(out.status, 404);
  // trailing slash on a file
  Req t("/hello.txt/");
  ASSERT_EQ(dir(t), ServeError::None);
  EXPECT_EQ(out.status, 404);
}

TEST_F(StaticFiles, DirPrefixMapping) {
  const std::string A = g_base + "/A", B = g_base + "/B", C = g_base + "/C";
  const std::string spec1 = "/static=" + A + ",/static/img=" + B + "," + C;
  const std::string spec2 = C + ",/static/img=" + B + ",/static=" + A;  // order irrelevant
  struct Case {
    const char* uri;
    int status;
    const char* body;
  } cases[] = {
      {"/static/f.txt", 200, "from A"},
      {"/static/img/f.txt", 200, "from B"},  // longest prefix wins
      {"/staticx/f.txt", 404, ""},           // not at a segment boundary: "/" -> C
      {"/f.txt", 200, "from C"},             // entry without '=' maps "/"
      {"/static/imgx/f.txt", 404, ""},       // "/static" -> A/imgx/f.txt
      {"/static/%2e%2e/B/f.txt", 400, ""},
  };
  for (const std::string& spec : {spec1, spec2}) {
    for (const auto& c : cases) {
      Req q(c.uri);
      ASSERT_EQ(dir(q, spec), ServeError::None);
      EXPECT_EQ(out.status, c.status) << c.uri << " " << spec;
      if (c.status == 200) {
        EXPECT_EQ(streamed(), c.body) << c.uri;
      }
    }
    Req r("/static");
    ASSERT_EQ(dir(r, spec), ServeError::None);
    EXPECT_EQ(out.status, 301);
    EXPECT_NE(out.head.find("Location: /static/\r\n"), std::string::npos);
    Req l("/static/");
    ASSERT_EQ(dir(l, spec), ServeError::None);
    EXPECT_EQ(out.status, 200);
    EXPECT_NE(out.body.find("<title>Index of /static/</title>"), std::string::npos);
    EXPECT_NE(out.body.find("<a href=\"img/\">img/</a>"), std::string::npos);
  }
  {  // the A tree holds img/f.txt: the longer mapping hides it
    Req q("/static/img/f.txt");
    ASSERT_EQ(dir(q, "/static=" + A), ServeError::None);
    EXPECT_EQ(streamed(), "from A/img");
  }
  {  // no mapping for "/": unmatched URIs are missing
    Req q("/f.txt");
    ASSERT_EQ(dir(q, "/static=" + A), ServeError::None);
    EXPECT_EQ(out.status, 404);
    ASSERT_EQ(dir(q, "/static=" + A, "", g_base + "/404.html"), ServeError::None);
    EXPECT_EQ(out.status, 200);
  }
  {  // prefix written with a trailing slash behaves like without
    Req q("/static/f.txt");
    ASSERT_EQ(dir(q, "/static/=" + A), ServeError::None);
    EXPECT_EQ(streamed(), "from A");
  }
  {  // explicit "/=" entry
    Req q("/f.txt");
    ASSERT_EQ(dir(q, "/=" + B), ServeError::None);
    EXPECT_EQ(streamed(), "from B");
  }
  {  // symlink escape check uses the mapped root: C cannot reach A
    Req q("/static/../A/f.txt");
    ASSERT_EQ(dir(q, spec1), ServeError::None);
    EXPECT_EQ(out.status, 400);
  }
}

TEST_F(StaticFiles, DirConditionalAndRange) {
  Req q("/data.bin");
  q.h("Range", "bytes=-3");
  ASSERT_EQ(dir(q), ServeError::None);
  EXPECT_EQ(out.status, 206);
  EXPECT_EQ(streamed(), "789");
  Req c("/hello.txt");
  c.h("If-None-Match", "\"1700000000.14\"");
  ASSERT_EQ(dir(c), ServeError::None);
  EXPECT_EQ(out.status, 304);
  Req i("/sub/");
  i.h("If-Modified-Since", "Tue, 14 Nov 2023 22:13:20 GMT");
  ASSERT_EQ(dir(i), ServeError::None);
  EXPECT_EQ(out.status, 304);
}

}  // namespace

namespace {

size_t open_fd_count() {
  size_t n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (::readdir(d) != nullptr) ++n;
    ::closedir(d);
  }
  return n;
}

// Every path through the module either hands the fd to the caller or closes it.
TEST_F(StaticFiles, NoDescriptorLeaks) {
  if (::access("/proc/self/fd", R_OK) != 0) GTEST_SKIP() << "no /proc";
  const size_t before = open_fd_count();
  for (int i = 0; i < 20; ++i) {
    for (const char* m : {"GET", "HEAD"}) {
      for (const char* u : {"/hello.txt", "/sub", "/sub/", "/sub3/", "/list/", "/link_out",
                            "/dirlink_out/", "/fifo", "/nope", "/../x", "/app.js"}) {
        Req q(u, m);
        q.h("Accept-Encoding", "gzip");
        ASSERT_EQ(dir(q), ServeError::None);
        close_fd();
        Req r(u, m);
        r.h("If-None-Match", "*");
        ASSERT_EQ(dir(r), ServeError::None);
        close_fd();
        Req s(u, m);
        s.h("Range", "bytes=500-");
        ASSERT_EQ(dir(s), ServeError::None);
        close_fd();
      }
    }
  }
  EXPECT_EQ(open_fd_count(), before);
}

}  // namespace

namespace {

// Arbitrary header values never crash or throw (the parser only guarantees token names and
// no control characters; these values include everything else).
TEST_F(StaticFiles, RandomHeaderValuesAreSafe) {
  uint32_t seed = 12345;
  auto rnd = [&]() {
    seed = seed * 1103515245u + 12345u;
    return (seed >> 16) & 0x7fff;
  };
  const std::string alphabet = "bytes=-0123456789,;qWw/\"* GMTSunNov: \t";
  for (int i = 0; i < 3000; ++i) {
    std::string v;
    size_t n = rnd() % 24;
    for (size_t k = 0; k < n; ++k) v += alphabet[rnd() % alphabet.size()];
    Req q("/data.bin", (i & 1) ? "GET" : "HEAD");
    q.h("Range", v).h("If-None-Match", v).h("If-Range", v).h("Accept-Encoding", v);
    if (i % 3 == 0) q.h("If-Modified-Since", v);
    ASSERT_EQ(dir(q), ServeError::None) << v;
    EXPECT_TRUE(out.status == 200 || out.status == 206 || out.status == 304 ||
                out.status == 416)
        << v;
    if (out.fd >= 0) {
      EXPECT_LE(out.file_offset + out.file_length, 100u) << v;
      EXPECT_GT(out.file_length, 0u);
    }
    close_fd();
  }
}

}  // namespace
