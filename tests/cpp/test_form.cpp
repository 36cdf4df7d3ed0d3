// Tests for src/core/util/form.cpp (spec §4 http_var).
#include <gtest/gtest.h>

#include "mg/form.hpp"

using mg::http::form_var;
using std::nullopt;

TEST(FormVar, Basic) {
  EXPECT_EQ(form_var("a=1&b=2", "a"), "1");
  EXPECT_EQ(form_var("a=1&b=2", "b"), "2");
  EXPECT_EQ(form_var("a=1&b=2", "c"), nullopt);
}

TEST(FormVar, NameCaseInsensitiveValueRaw) {
  EXPECT_EQ(form_var("Name=J%20Doe+x", "name"), "J%20Doe+x");
  EXPECT_EQ(form_var("a=1&B=2", "b"), "2");
}

TEST(FormVar, EmptyAndMissingValues) {
  EXPECT_EQ(form_var("a=&b=2", "a"), "");
  EXPECT_EQ(form_var("a&b=2", "a"), "");  // a name without '=' has an empty value
  EXPECT_EQ(form_var("", "a"), nullopt);
  EXPECT_EQ(form_var("a=1", ""), nullopt);
  EXPECT_EQ(form_var("=1", ""), nullopt);
}

TEST(FormVar, ExactNamesFirstWins) {
  EXPECT_EQ(form_var("xa=1&a=2", "a"), "2");
  EXPECT_EQ(form_var("a=1&a=2", "a"), "1");
  EXPECT_EQ(form_var("ab=1", "a"), nullopt);
  EXPECT_EQ(form_var("a=b=c", "a"), "b=c");
  EXPECT_EQ(form_var("&&a=1&", "a"), "1");
  EXPECT_EQ(form_var("a=1;b=2", "b"), nullopt);  // only '&' separates
  EXPECT_EQ(form_var("a=1& b=2", "b"), nullopt);  // no trimming
}

TEST(FormVar, NoSizeLimit) {
  std::string big = "k=" + std::string(100000, 'v');
  EXPECT_EQ(form_var(big, "k")->size(), 100000u);
}
