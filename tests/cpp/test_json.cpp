// Tests for src/core/util/json.cpp (spec §4 json_get*).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "guarded_buffer.hpp"
#include "mg/json.hpp"

namespace json = mg::json;
using std::nullopt;
using std::string_view;

namespace {
const char* kDoc =
    R"({"name": "Alice", "age": 30, "tags": ["a", "b", {"deep": [1, 2, {"x": null}]}],
        "nested": {"a": {"b": true}}, "empty_obj": {}, "empty_arr": [], "f": -3.5e2})";
}

// ---- get: raw text ---------------------------------------------------------------------

TEST(JsonGet, SpecExamples) {
  EXPECT_EQ(json::get(kDoc, "$.name"), R"("Alice")");
  EXPECT_EQ(json::get(kDoc, "$.age"), "30");
  EXPECT_EQ(json::get(kDoc, "$.nested.a.b"), "true");
  EXPECT_EQ(json::get(kDoc, "$.tags[0]"), R"("a")");
  EXPECT_EQ(json::get(kDoc, "$.tags[2].deep[2].x"), "null");
  EXPECT_EQ(json::get(kDoc, "$.f"), "-3.5e2");
}

TEST(JsonGet, ContainersVerbatim) {
  EXPECT_EQ(json::get(kDoc, "$.nested"), R"({"a": {"b": true}})");
  EXPECT_EQ(json::get(kDoc, "$.tags[2].deep"), R"([1, 2, {"x": null}])");
  EXPECT_EQ(json::get(kDoc, "$.empty_obj"), "{}");
  EXPECT_EQ(json::get(kDoc, "$.empty_arr"), "[]");
}

TEST(JsonGet, RootIsTrimmedWholeDocument) {
  EXPECT_EQ(json::get("  {\"a\": 1}\n", "$"), "{\"a\": 1}");
  EXPECT_EQ(json::get("42", "$"), "42");
  EXPECT_EQ(json::get(" \"s\" ", "$"), "\"s\"");
  EXPECT_EQ(json::get("[1,2,[3]]", "$[2][0]"), "3");
  EXPECT_EQ(json::get("[1,2,[3]]", "$[2]"), "[3]");
}

TEST(JsonGet, Absent) {
  EXPECT_EQ(json::get(kDoc, "$.missing"), nullopt);
  EXPECT_EQ(json::get(kDoc, "$.tags[3]"), nullopt);
  EXPECT_EQ(json::get(kDoc, "$.tags[99999999999999999999999]"), nullopt);
  EXPECT_EQ(json::get(kDoc, "$.empty_arr[0]"), nullopt);
  EXPECT_EQ(json::get(kDoc, "$.empty_obj.a"), nullopt);
  EXPECT_EQ(json::get(kDoc, "$.name.x"), nullopt);  // not an object
  EXPECT_EQ(json::get(kDoc, "$.name[0]"), nullopt);  // not an array
  EXPECT_EQ(json::get(kDoc, "$[0]"), nullopt);       // root is an object
  EXPECT_EQ(json::get("[1]", "$.a"), nullopt);
}

TEST(JsonGet, InvalidPaths) {
  for (string_view p : {"", "a", "$.", "$..name", "$name", "$[", "$[]", "$[0", "$[-1]", "$[ 0]", "$[0x1]", "$.tags[0]x",
                        "$.tags.[0]", "$ .name", "$[+1]"})
    EXPECT_EQ(json::get(kDoc, p), nullopt) << p;
}

TEST(JsonGet, KeysWithSpecialCharacters) {
  const char* doc = R"({"a b": 1, "ünï": 2, "q\"k": 3, "a]": 4, "": 5})";
  EXPECT_EQ(json::get(doc, "$.a b"), "1");
  EXPECT_EQ(json::get(doc, "$.ünï"), "2");
  EXPECT_EQ(json::get(doc, "$.q\"k"), "3");  // compared after unescaping
  EXPECT_EQ(json::get(doc, "$.a]"), "4");
}

TEST(JsonGet, EscapedKeysCompareUnescaped) {
  EXPECT_EQ(json::get(R"({"\u0061": 1})", "$.a"), "1");
  EXPECT_EQ(json::get(R"({"\ud83d\ude00": 7})", "$.\xF0\x9F\x98\x80"), "7");
  // A key with a lone surrogate matches nothing but does not make the document invalid.
  EXPECT_EQ(json::get(R"({"\ud800": 1, "b": 2})", "$.b"), "2");
}

TEST(JsonGet, FirstDuplicateWins) {
  EXPECT_EQ(json::get(R"({"a": 1, "a": 2})", "$.a"), "1");
}

TEST(JsonGet, DotInKeyCannotBeAddressed) {
  const char* doc = R"({"a.b": 1, "a": {"b": 2}})";
  EXPECT_EQ(json::get(doc, "$.a.b"), "2");
}

TEST(JsonGet, WhitespaceEverywhere) {
  const char* doc = " \t\r\n{ \"a\" \n:\t[ 1 , { \"b\" : \"c\" } ] }\n";
  EXPECT_EQ(json::get(doc, "$.a[1].b"), "\"c\"");
  EXPECT_EQ(json::get(doc, "$.a[0]"), "1");
  EXPECT_EQ(json::get(doc, "$.a"), "[ 1 , { \"b\" : \"c\" } ]");
}

// ---- validation ------------------------------------------------------------------------

TEST(JsonValidate, InvalidBeforeTheValue) {
  EXPECT_EQ(json::get(R"({"x": 01, "a": 1})", "$.a"), nullopt);  // leading zero
  EXPECT_EQ(json::get(R"({"x": tru, "a": 1})", "$.a"), nullopt);
  EXPECT_EQ(json::get(R"({"x" 1, "a": 1})", "$.a"), nullopt);      // missing colon
  EXPECT_EQ(json::get(R"({"x": 1 "a": 1})", "$.a"), nullopt);      // missing comma
  EXPECT_EQ(json::get(R"({x: 1, "a": 1})", "$.a"), nullopt);       // unquoted key
  EXPECT_EQ(json::get(R"({'x': 1, "a": 1})", "$.a"), nullopt);
  EXPECT_EQ(json::get(R"({"x": [1,], "a": 1})", "$.a"), nullopt);  // trailing comma
  EXPECT_EQ(json::get(R"({"x": "\q", "a": 1})", "$.a"), nullopt);  // bad escape
  EXPECT_EQ(json::get(R"({"x": "\u12G4", "a": 1})", "$.a"), nullopt);
  EXPECT_EQ(json::get("{\"x\": \"tab\there\", \"a\": 1}", "$.a"), nullopt);  // raw control char
  EXPECT_EQ(json::get(R"({"x": .5, "a": 1})", "$.a"), nullopt);
  EXPECT_EQ(json::get(R"({"x": 1., "a": 1})", "$.a"), nullopt);
  EXPECT_EQ(json::get(R"({"x": 1e, "a": 1})", "$.a"), nullopt);
  EXPECT_EQ(json::get(R"({"x": -, "a": 1})", "$.a"), nullopt);
  EXPECT_EQ(json::get(R"({"x": +1, "a": 1})", "$.a"), nullopt);
  EXPECT_EQ(json::get(R"({"x": NaN, "a": 1})", "$.a"), nullopt);
  EXPECT_EQ(json::get(R"({"x": [}, "a": 1})", "$.a"), nullopt);
  EXPECT_EQ(json::get(R"({"x": {]], "a": 1})", "$.a"), nullopt);
  EXPECT_EQ(json::get(R"([1 2])", "$[1]"), nullopt);
}

TEST(JsonValidate, TheValueItselfMustBeComplete) {
  EXPECT_EQ(json::get(R"({"a": 01})", "$.a"), nullopt);
  EXPECT_EQ(json::get(R"({"a": 12x})", "$.a"), nullopt);
  EXPECT_EQ(json::get(R"({"a": truex})", "$.a"), nullopt);
  EXPECT_EQ(json::get(R"({"a": "abc)", "$.a"), nullopt);
  EXPECT_EQ(json::get(R"({"a": [1, 2)", "$.a"), nullopt);
  EXPECT_EQ(json::get(R"({"a": 1)", "$.a"), nullopt);  // truncated after the value
  EXPECT_EQ(json::get(R"({"a": 1 ] )", "$.a"), nullopt);  // wrong closing bracket
  EXPECT_EQ(json::get(R"([1})", "$[0]"), nullopt);
}

TEST(JsonValidate, AfterTheValueIsNotExamined) {
  EXPECT_EQ(json::get(R"({"a": 1, garbage)", "$.a"), "1");
  EXPECT_EQ(json::get(R"([1, 2, ]])", "$[0]"), "1");
}

TEST(JsonValidate, RootMustBeTheWholeInput) {
  EXPECT_EQ(json::get("{\"a\":1}xyz", "$"), nullopt);
  EXPECT_EQ(json::get("{\"a\":1} {", "$"), nullopt);
  EXPECT_EQ(json::get("1 2", "$"), nullopt);
  EXPECT_EQ(json::get("", "$"), nullopt);
  EXPECT_EQ(json::get("   ", "$"), nullopt);
  EXPECT_EQ(json::get("\xEF\xBB\xBF{}", "$"), nullopt);  // no BOM, as json.loads
}

TEST(JsonValidate, AllLiteralsAndNumbers) {
  for (string_view v : {"0", "-0", "1", "-1", "10", "1.5", "-0.0", "1e5", "1E5", "1e+5", "1e-5", "1.25E-10", "123456789012345678901234567890",
                        "true", "false", "null", "\"\"", "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\"", "[]", "{}", "[[]]", "{\"a\":{}}"}) {
    std::string doc = "[" + std::string(v) + "]";
    EXPECT_EQ(json::get(doc, "$[0]"), v) << v;
    EXPECT_EQ(json::get(v, "$"), v) << v;
  }
}

TEST(JsonValidate, HighBytesInStringsPassThrough) {
  EXPECT_EQ(json::get("{\"a\": \"\xff\xfe\"}", "$.a"), "\"\xff\xfe\"");
}

TEST(JsonValidate, DepthLimit) {
  std::string ok(json::kMaxDepth, '[');
  ok += std::string(json::kMaxDepth, ']');
  EXPECT_EQ(json::get(ok, "$"), ok);
  std::string deep(json::kMaxDepth + 1, '[');
  deep += std::string(json::kMaxDepth + 1, ']');
  EXPECT_EQ(json::get(deep, "$"), nullopt);
  // Very deep unterminated input: no recursion, no crash.
  std::string huge(1 << 20, '[');
  EXPECT_EQ(json::get(huge, "$"), nullopt);
  EXPECT_EQ(json::get(huge, "$[0][0][0]"), nullopt);
}

TEST(JsonValidate, NeverReadsPastTheInput) {
  // Every prefix of a document, each in an exactly-sized heap block (ASan catches overreads).
  std::string doc = R"({"k": [1, -2.5e3, "s\u00e9\"", true, false, null, {"z": []}], "t": "end"})";
  mg::testing::GuardedBuffer g(doc.size());
  for (size_t n = 0; n <= doc.size(); ++n) {
    string_view v = g.place_view(string_view(doc).substr(0, n));
    for (string_view p : {"$", "$.k", "$.k[1]", "$.k[2]", "$.k[6].z", "$.t", "$.k[9]"}) {
      auto r = json::get(v, p);
      if (r) {
        EXPECT_GE(r->data(), v.data());
        EXPECT_LE(r->data() + r->size(), v.data() + v.size());
      }
      (void)json::get_string(v, p);
      (void)json::get_long(v, p);
      (void)json::get_number(v, p);
    }
  }
}

// ---- typed access ----------------------------------------------------------------------

TEST(JsonNumber, Values) {
  EXPECT_EQ(json::get_number(kDoc, "$.age"), 30.0);
  EXPECT_EQ(json::get_number(kDoc, "$.f"), -350.0);
  EXPECT_EQ(json::get_number(R"({"a": 0.1})", "$.a"), 0.1);
  EXPECT_EQ(json::get_number(R"({"a": "5"})", "$.a"), nullopt);  // a quoted number is not a number
  EXPECT_EQ(json::get_number(kDoc, "$.nested"), nullopt);
  EXPECT_EQ(json::get_number(kDoc, "$.missing"), nullopt);
  EXPECT_EQ(json::get_number("[true]", "$[0]"), nullopt);
}

TEST(JsonNumber, RangeLikePython) {
  EXPECT_EQ(json::get_number("1e400", "$"), std::numeric_limits<double>::infinity());
  EXPECT_EQ(json::get_number("-1e400", "$"), -std::numeric_limits<double>::infinity());
  auto z = json::get_number("-1e-400", "$");
  ASSERT_TRUE(z);
  EXPECT_EQ(*z, 0.0);
  EXPECT_TRUE(std::signbit(*z));
  EXPECT_EQ(json::get_number("5e-324", "$"), 5e-324);  // subnormals kept
  EXPECT_EQ(json::get_number("123456789012345678901234567890", "$"), 1.2345678901234568e29);
}

TEST(JsonLong, Values) {
  EXPECT_EQ(json::get_long(kDoc, "$.age"), 30);
  EXPECT_EQ(json::get_long(R"({"a": 3.14})", "$.a"), 3);
  EXPECT_EQ(json::get_long(R"({"a": -3.99})", "$.a"), -3);
  EXPECT_EQ(json::get_long(R"({"a": -99})", "$.a"), -99);
  EXPECT_EQ(json::get_long(R"({"a": 1e3})", "$.a"), 1000);
  EXPECT_EQ(json::get_long(R"({"a": -0})", "$.a"), 0);
  EXPECT_EQ(json::get_long(R"({"a": "5"})", "$.a"), nullopt);
  EXPECT_EQ(json::get_long(R"({"a": null})", "$.a"), nullopt);
}

TEST(JsonLong, ExactInt64AndSaturation) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max(), kMin = std::numeric_limits<int64_t>::min();
  EXPECT_EQ(json::get_long("9223372036854775807", "$"), kMax);
  EXPECT_EQ(json::get_long("-9223372036854775808", "$"), kMin);
  EXPECT_EQ(json::get_long("9007199254740993", "$"), 9007199254740993);  // not representable as double
  EXPECT_EQ(json::get_long("9223372036854775808", "$"), kMax);
  EXPECT_EQ(json::get_long("-9223372036854775809", "$"), kMin);
  EXPECT_EQ(json::get_long("123456789012345678901234567890", "$"), kMax);
  EXPECT_EQ(json::get_long("1e300", "$"), kMax);
  EXPECT_EQ(json::get_long("-1e300", "$"), kMin);
  EXPECT_EQ(json::get_long("1e400", "$"), kMax);
  EXPECT_EQ(json::get_long("0.999", "$"), 0);
}

TEST(JsonBool, Values) {
  EXPECT_EQ(json::get_bool(kDoc, "$.nested.a.b"), true);
  EXPECT_EQ(json::get_bool("[false]", "$[0]"), false);
  EXPECT_EQ(json::get_bool("[0]", "$[0]"), nullopt);
  EXPECT_EQ(json::get_bool("[\"true\"]", "$[0]"), nullopt);
  EXPECT_EQ(json::get_bool("[null]", "$[0]"), nullopt);
}

TEST(JsonString, Escapes) {
  EXPECT_EQ(json::get_string(kDoc, "$.name"), "Alice");
  EXPECT_EQ(json::get_string(R"(["\"\\\/\b\f\n\r\t"])", "$[0]"), "\"\\/\b\f\n\r\t");
  EXPECT_EQ(json::get_string(R"(["\u0041\u00e9\u20AC"])", "$[0]"), "A\xC3\xA9\xE2\x82\xAC");
  EXPECT_EQ(json::get_string(R"(["\ud83d\ude00"])", "$[0]"), "\xF0\x9F\x98\x80");  // surrogate pair
  EXPECT_EQ(json::get_string(R"(["\uDBFF\uDFFF"])", "$[0]"), "\xF4\x8F\xBF\xBF");
  EXPECT_EQ(json::get_string(R"(["\u0000"])", "$[0]"), std::string(1, '\0'));
  EXPECT_EQ(json::get_string(R"(["caf\u00e9 ok"])", "$[0]"), "caf\xC3\xA9 ok");
  EXPECT_EQ(json::get_string("[\"raw \xC3\xA9\"]", "$[0]"), "raw \xC3\xA9");
  EXPECT_EQ(json::get_string(R"([""])", "$[0]"), "");
}

TEST(JsonString, BadOrNotAString) {
  EXPECT_EQ(json::get_string(R"(["\ud83d"])", "$[0]"), nullopt);         // lone high surrogate
  EXPECT_EQ(json::get_string(R"(["\ude00"])", "$[0]"), nullopt);         // lone low surrogate
  EXPECT_EQ(json::get_string(R"(["\ud83dx"])", "$[0]"), nullopt);
  EXPECT_EQ(json::get_string(R"(["\ud83d\u0041"])", "$[0]"), nullopt);   // high + non-low
  EXPECT_EQ(json::get_string(R"(["\ud83d\ud83d"])", "$[0]"), nullopt);
  EXPECT_EQ(json::get_string(R"(["\x"])", "$[0]"), nullopt);
  EXPECT_EQ(json::get_string(R"([5])", "$[0]"), nullopt);
  EXPECT_EQ(json::get_string(R"([null])", "$[0]"), nullopt);
  EXPECT_EQ(json::get_string(R"({"a": {}})", "$.a"), nullopt);
  // But json::get still returns the raw text of a lone surrogate (it is valid JSON text).
  EXPECT_EQ(json::get(R"(["\ud83d"])", "$[0]"), R"("\ud83d")");
}

TEST(JsonHelpers, OnRawValues) {
  EXPECT_EQ(json::number_value("-12.5"), -12.5);
  EXPECT_EQ(json::number_value("12 "), nullopt);
  EXPECT_EQ(json::number_value(""), nullopt);
  EXPECT_EQ(json::long_value("-"), nullopt);
  EXPECT_EQ(json::string_value("\"a\\nb\""), "a\nb");
  EXPECT_EQ(json::string_value("\"a"), nullopt);
  EXPECT_EQ(json::string_value("\"a\"b\""), nullopt);
  EXPECT_EQ(json::string_value("x"), nullopt);
}
