// Tests for src/core/util/url.cpp (spec §2.5 default ports, §3.1 URL rules).
#include <gtest/gtest.h>

#include <string_view>

#include "mg/url.hpp"

namespace url = mg::url;

// ---- split ------------------------------------------------------------------------------

TEST(UrlSplit, FullUrl) {
  url::Parts p = url::split("http://user:secret@example.com:8080/path/x?q=1#frag");
  EXPECT_EQ(p.scheme, "http");
  EXPECT_EQ(p.user, "user");
  EXPECT_EQ(p.pass, "secret");
  EXPECT_EQ(p.host, "example.com");
  EXPECT_EQ(p.port_text, "8080");
  EXPECT_EQ(p.uri, "/path/x?q=1#frag");
}

TEST(UrlSplit, SchemeHostOnly) {
  url::Parts p = url::split("tcp://10.0.0.1");
  EXPECT_EQ(p.scheme, "tcp");
  EXPECT_EQ(p.host, "10.0.0.1");
  EXPECT_EQ(p.port_text, "");
  EXPECT_EQ(p.uri, "");
  EXPECT_EQ(p.user, "");
  EXPECT_EQ(p.pass, "");
}

TEST(UrlSplit, NoScheme) {
  url::Parts p = url::split("127.0.0.1:8000/a");
  EXPECT_EQ(p.scheme, "");
  EXPECT_EQ(p.host, "127.0.0.1");
  EXPECT_EQ(p.port_text, "8000");
  EXPECT_EQ(p.uri, "/a");
}

TEST(UrlSplit, EmptyHost) {
  url::Parts p = url::split("http://:8000");
  EXPECT_EQ(p.host, "");
  EXPECT_EQ(p.port_text, "8000");
  url::Parts q = url::split("http://");
  EXPECT_EQ(q.scheme, "http");
  EXPECT_EQ(q.host, "");
  EXPECT_EQ(q.port_text, "");
  url::Parts e = url::split("");
  EXPECT_EQ(e.scheme, "");
  EXPECT_EQ(e.host, "");
}

TEST(UrlSplit, RootUri) {
  url::Parts p = url::split("ws://h/");
  EXPECT_EQ(p.host, "h");
  EXPECT_EQ(p.uri, "/");
}

TEST(UrlSplit, Ipv6Brackets) {
  url::Parts p = url::split("http://[::1]:8000/x");
  EXPECT_EQ(p.host, "[::1]");  // brackets kept
  EXPECT_EQ(p.port_text, "8000");
  EXPECT_EQ(p.uri, "/x");

  url::Parts q = url::split("https://[2001:db8::1]");
  EXPECT_EQ(q.scheme, "https");
  EXPECT_EQ(q.host, "[2001:db8::1]");
  EXPECT_EQ(q.port_text, "");
  EXPECT_EQ(q.uri, "");

  url::Parts r = url::split("[fe80::1]:99");
  EXPECT_EQ(r.host, "[fe80::1]");
  EXPECT_EQ(r.port_text, "99");
}

TEST(UrlSplit, Ipv6WithUserinfo) {
  url::Parts p = url::split("mqtt://u:p@[::1]:1883");
  EXPECT_EQ(p.user, "u");
  EXPECT_EQ(p.pass, "p");
  EXPECT_EQ(p.host, "[::1]");
  EXPECT_EQ(p.port_text, "1883");
}

TEST(UrlSplit, Ipv6MissingCloseBracket) {
  url::Parts p = url::split("http://[::1:80");
  EXPECT_EQ(p.host, "[::1:80");
  EXPECT_EQ(p.port_text, "");
}

TEST(UrlSplit, UserWithoutPassword) {
  url::Parts p = url::split("http://alice@host");
  EXPECT_EQ(p.user, "alice");
  EXPECT_EQ(p.pass, "");
  EXPECT_EQ(p.host, "host");
}

TEST(UrlSplit, EmptyPasswordAndEmptyUser) {
  url::Parts p = url::split("http://alice:@host");
  EXPECT_EQ(p.user, "alice");
  EXPECT_EQ(p.pass, "");
  url::Parts q = url::split("http://:pw@host:1");
  EXPECT_EQ(q.user, "");
  EXPECT_EQ(q.pass, "pw");
  EXPECT_EQ(q.host, "host");
  EXPECT_EQ(q.port_text, "1");
}

TEST(UrlSplit, AtSignInPasswordUsesLastAt) {
  url::Parts p = url::split("http://user:p@ss@host:81/");
  EXPECT_EQ(p.user, "user");
  EXPECT_EQ(p.pass, "p@ss");
  EXPECT_EQ(p.host, "host");
  EXPECT_EQ(p.port_text, "81");
}

TEST(UrlSplit, ColonInPassword) {
  url::Parts p = url::split("http://user:a:b@host");
  EXPECT_EQ(p.user, "user");
  EXPECT_EQ(p.pass, "a:b");
  EXPECT_EQ(p.host, "host");
  EXPECT_EQ(p.port_text, "");
}

TEST(UrlSplit, AtAndColonInPathDoNotAffectAuthority) {
  url::Parts p = url::split("http://host:80/a@b:9/c");
  EXPECT_EQ(p.user, "");
  EXPECT_EQ(p.host, "host");
  EXPECT_EQ(p.port_text, "80");
  EXPECT_EQ(p.uri, "/a@b:9/c");
}

// ---- default_port / port ------------------------------------------------------------------

TEST(UrlPort, DefaultPorts) {
  EXPECT_EQ(url::default_port("http"), 80);
  EXPECT_EQ(url::default_port("ws"), 80);
  EXPECT_EQ(url::default_port("https"), 443);
  EXPECT_EQ(url::default_port("wss"), 443);
  EXPECT_EQ(url::default_port("mqtt"), 1883);
  EXPECT_EQ(url::default_port("mqtts"), 8883);
  EXPECT_EQ(url::default_port("HTTP"), 80);  // schemes are case-insensitive
  EXPECT_EQ(url::default_port("Wss"), 443);
  EXPECT_EQ(url::default_port("tcp"), 0);
  EXPECT_EQ(url::default_port("udp"), 0);
  EXPECT_EQ(url::default_port(""), 0);
  EXPECT_EQ(url::default_port("httpx"), 0);
}

TEST(UrlPort, MissingPortGivesDefault) {
  EXPECT_EQ(url::port("http://a"), 80);
  EXPECT_EQ(url::port("https://a/x"), 443);
  EXPECT_EQ(url::port("ws://a"), 80);
  EXPECT_EQ(url::port("wss://[::1]"), 443);
  EXPECT_EQ(url::port("mqtt://broker"), 1883);
  EXPECT_EQ(url::port("mqtts://broker"), 8883);
  EXPECT_EQ(url::port("tcp://a"), 0);
  EXPECT_EQ(url::port("a"), 0);
  EXPECT_EQ(url::port(""), 0);
  // An empty port after ':' is a missing port (RFC 3986 §3.2.3).
  EXPECT_EQ(url::port("http://a:"), 80);
  EXPECT_EQ(url::port("http://[::1]:"), 80);
}

TEST(UrlPort, ExplicitPort) {
  EXPECT_EQ(url::port("http://a:8080"), 8080);
  EXPECT_EQ(url::port("https://a:80"), 80);  // explicit wins over the default
  EXPECT_EQ(url::port("tcp://a:0"), 0);
  EXPECT_EQ(url::port("tcp://a:65535"), 65535);
  EXPECT_EQ(url::port("tcp://a:00080"), 80);
  EXPECT_EQ(url::port("http://[::1]:9000/p"), 9000);
  EXPECT_EQ(url::port("http://u:p@h:1234"), 1234);
  EXPECT_EQ(url::port("127.0.0.1:7"), 7);
}

TEST(UrlPort, BadPort) {
  EXPECT_EQ(url::port("tcp://a:65536"), -1);
  EXPECT_EQ(url::port("tcp://a:99999"), -1);
  EXPECT_EQ(url::port("tcp://a:123456"), -1);
  EXPECT_EQ(url::port("tcp://a:000080"), -1);  // more than five digits
  EXPECT_EQ(url::port("tcp://a:-1"), -1);
  EXPECT_EQ(url::port("tcp://a:+80"), -1);
  EXPECT_EQ(url::port("tcp://a:8o"), -1);
  EXPECT_EQ(url::port("tcp://a: 80"), -1);
  EXPECT_EQ(url::port("tcp://a:0x50"), -1);
  EXPECT_EQ(url::port("http://[::1]:abc"), -1);
}

// ---- is_ssl / is_http_scheme --------------------------------------------------------------

TEST(UrlScheme, IsSsl) {
  for (std::string_view u : {"https://a", "wss://a", "mqtts://a", "ssl://a", "tls://a", "tcps://a"})
    EXPECT_TRUE(url::is_ssl(u)) << u;
  for (std::string_view u : {"http://a", "ws://a", "mqtt://a", "tcp://a", "udp://a", "", "a:443",
                             "httpsx://a", "xhttps://a", "https"})
    EXPECT_FALSE(url::is_ssl(u)) << u;
}

TEST(UrlScheme, IsSslCaseInsensitive) {
  // RFC 3986 §3.1: schemes are case-insensitive. is_http_scheme() and default_port()
  // already treat "HTTPS" as https; the TLS flag must agree, or "HTTPS://..." would be
  // an HTTP listener/connection silently running in plain text.
  for (std::string_view u : {"HTTPS://a", "Wss://a", "MQTTS://a", "SSL://a", "Tls://a", "TCPS://a"})
    EXPECT_TRUE(url::is_ssl(u)) << u;
  EXPECT_FALSE(url::is_ssl("HTTP://a"));
}

TEST(UrlScheme, IsHttpScheme) {
  for (std::string_view u : {"http://a", "https://a", "ws://a", "wss://a", "HTTP://a", "Https://a",
                             "WS://a", "wSs://a", "http://"})
    EXPECT_TRUE(url::is_http_scheme(u)) << u;
  for (std::string_view u : {"tcp://a", "udp://a", "mqtt://a", "mqtts://a", "http:", "http:/a",
                             "httpx://a", "xhttp://a", "", "a:80", "ssl://a"})
    EXPECT_FALSE(url::is_http_scheme(u)) << u;
}

// ---- url_* helpers (spec §4) ----------------------------------------------------------------

TEST(UrlHelpers, HostUserPassUri) {
  EXPECT_EQ(url::host("http://u:p@example.com:8080/a?b=1"), "example.com");
  EXPECT_EQ(url::user("http://u:p@example.com:8080/a?b=1"), "u");
  EXPECT_EQ(url::pass("http://u:p@example.com:8080/a?b=1"), "p");
  EXPECT_EQ(url::uri("http://u:p@example.com:8080/a?b=1"), "/a?b=1");
  EXPECT_EQ(url::host("http://[::1]:80/x"), "[::1]");
  EXPECT_EQ(url::host("h"), "h");
  EXPECT_EQ(url::host(""), "");
  EXPECT_EQ(url::user("http://h"), "");
  EXPECT_EQ(url::pass("http://alice@h"), "");
  EXPECT_EQ(url::uri("http://h"), "/");
  EXPECT_EQ(url::uri(""), "/");
  EXPECT_EQ(url::uri("http://h/"), "/");
  EXPECT_EQ(url::uri("ws://h/chat?room=1#top"), "/chat?room=1#top");
}

TEST(UrlHelpers, IsSslExactIsCaseSensitive) {
  for (std::string_view u : {"https://a", "wss://a", "mqtts://a", "ssl://a", "tls://a", "tcps://a", "https:"})
    EXPECT_TRUE(url::is_ssl_exact(u)) << u;
  for (std::string_view u : {"HTTPS://a", "Wss://a", "http://a", "", "https", "xhttps://a", " https://a"})
    EXPECT_FALSE(url::is_ssl_exact(u)) << u;
}

TEST(UrlHelpers, Encode) {
  EXPECT_EQ(url::encode(""), "");
  EXPECT_EQ(url::encode(" "), "%20");
  EXPECT_EQ(url::encode("@"), "%40");
  EXPECT_EQ(url::encode("\xC3\xA9"), "%c3%a9");
  EXPECT_EQ(url::encode("AZaz09._-~"), "AZaz09._-~");
  EXPECT_EQ(url::encode("a/b?c=d&e+f"), "a%2fb%3fc%3dd%26e%2bf");
  EXPECT_EQ(url::encode(std::string_view("\0\xff", 2)), "%00%ff");
}
