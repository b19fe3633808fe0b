#include "tools/wardenctl/yaml.h"

#include <gtest/gtest.h>

namespace warden::wardenctl {
namespace {

using Json = nlohmann::ordered_json;

TEST(YamlTest, LeavesPlainStringsPlain) {
  EXPECT_EQ(YamlString("alice"), "alice");
  EXPECT_EQ(YamlString("session.evict"), "session.evict");
  EXPECT_EQ(YamlString("user:3f0c"), "user:3f0c");
  EXPECT_EQ(YamlString("abuse report 42"), "abuse report 42");
  EXPECT_EQ(YamlString("Zoë's phone"), "Zoë's phone");
}

TEST(YamlTest, QuotesStringsThatWouldReadAsSomethingElse) {
  for (const char* text : {"",      "true", "False", "yes",   "NO",
                           "on",    "off",  "y",     "n",     "null",
                           "~",     "42",   "-1",    "+3",    ".5",
                           "0x1f",  "1e3",  ".inf",  "-.NaN", "2026-12-04T22:51:12Z",
                           "12:30", "<<",   "="}) {
    EXPECT_EQ(YamlString(text).front(), '"') << text;
  }
}

TEST(YamlTest, QuotesStringsWithIndicatorsOrSeparators) {
  for (const char* text : {"- item", "?",      ":x",         "#comment", "&anchor",    "*alias",
                           "!tag",   "|",      ">",          "'single'", "\"double\"", "%directive",
                           "@at",    "`tick`", "key: value", "a #b",     "trailing ",  " leading",
                           "ends:",  "a,b",    "[x]",        "{x}"}) {
    EXPECT_EQ(YamlString(text).front(), '"') << text;
  }
}

TEST(YamlTest, EscapesControlCharactersInDoubleQuotes) {
  EXPECT_EQ(YamlString("two\nlines"), R"("two\nlines")");
  EXPECT_EQ(YamlString("tab\there"), R"("tab\there")");
  EXPECT_EQ(YamlString("say \"hi\"\n"), R"("say \"hi\"\n")");
  EXPECT_EQ(YamlString("say \"hi\""), "say \"hi\"");  // a quote inside a plain scalar is text
  EXPECT_EQ(YamlString("back\\slash: x"), R"("back\\slash: x")");
  EXPECT_EQ(YamlString(std::string("bell\x07")), R"("bell\x07")");
  EXPECT_EQ(YamlString(std::string("del\x7f")), R"("del\x7f")");
  EXPECT_EQ(YamlString("c1\xc2\x85"), R"("c1\u0085")");
}

TEST(YamlTest, EmitsNestedMappingsAndSequencesInBlockStyle) {
  const Json value = Json::parse(R"({
    "name": "fra-2",
    "protocols": ["WIREGUARD", "OPENVPN"],
    "online": true,
    "liveSessions": "3",
    "ratio": 0.5,
    "details": {"reason": "evicted", "evicted": [], "extra": {}, "none": null},
    "nodes": [{"name": "a", "tags": ["x"]}, {"name": "b"}],
    "matrix": [[1, 2], [3]]
  })");
  EXPECT_EQ(ToYaml(value),
            "name: fra-2\n"
            "protocols:\n"
            "- WIREGUARD\n"
            "- OPENVPN\n"
            "online: true\n"
            "liveSessions: \"3\"\n"
            "ratio: 0.5\n"
            "details:\n"
            "  reason: evicted\n"
            "  evicted: []\n"
            "  extra: {}\n"
            "  none: null\n"
            "nodes:\n"
            "- name: a\n"
            "  tags:\n"
            "  - x\n"
            "- name: b\n"
            "matrix:\n"
            "- - 1\n"
            "  - 2\n"
            "- - 3\n");
}

TEST(YamlTest, QuotesKeysLikeValues) {
  EXPECT_EQ(ToYaml(Json::parse(R"({"ams-1": "1", "true": "2", "a: b": "3"})")),
            "ams-1: \"1\"\n\"true\": \"2\"\n\"a: b\": \"3\"\n");
}

TEST(YamlTest, WritesEmptyAndScalarDocuments) {
  EXPECT_EQ(ToYaml(Json::array()), "[]\n");
  EXPECT_EQ(ToYaml(Json::object()), "{}\n");
  EXPECT_EQ(ToYaml(Json("text")), "text\n");
}

}  // namespace
}  // namespace warden::wardenctl
