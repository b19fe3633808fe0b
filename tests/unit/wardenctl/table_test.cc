#include "tools/wardenctl/table.h"

#include <gtest/gtest.h>

namespace warden::wardenctl {
namespace {

TEST(TableTest, AlignsColumnsWithTwoSpacesAndNoTrailingBlanks) {
  Table table({"NAME", "STATE", "SESSIONS"});
  table.AddRow({"fra-2", "draining", "0"});
  table.AddRow({"ams-10", "active", "12"});
  EXPECT_EQ(table.Render(),
            "NAME    STATE     SESSIONS\n"
            "fra-2   draining  0\n"
            "ams-10  active    12\n");
}

TEST(TableTest, CountsCharactersNotBytes) {
  Table table({"LABEL", "USER"});
  table.AddRow({"Zoë", "zoe"});
  table.AddRow({"bob's", "bob"});
  EXPECT_EQ(table.Render(),
            "LABEL  USER\n"
            "Zoë    zoe\n"
            "bob's  bob\n");
  EXPECT_EQ(DisplayWidth("Zoë"), 3u);
}

TEST(TableTest, ShowsEmptyCellsAsADash) {
  Table table({"A", "B", "C"});
  table.AddRow({"", "x", ""});
  EXPECT_EQ(table.Render(),
            "A  B  C\n"
            "-  x  -\n");
}

TEST(TableTest, PrintsRowsWithoutHeaders) {
  Table table;
  table.AddRow({"live sessions", "3"});
  table.AddRow({"closing", "0"});
  EXPECT_EQ(table.Render(),
            "live sessions  3\n"
            "closing        0\n");
}

}  // namespace
}  // namespace warden::wardenctl
