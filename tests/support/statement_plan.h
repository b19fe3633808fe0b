#pragma once

// The plan PostgreSQL makes for one of the store's statements, prepared as
// the store prepares it: for asserting which indexes and partitions a
// statement reads, with a custom plan or a generic one.

#include <gtest/gtest.h>

#include <pqxx/pqxx>
#include <span>
#include <string>

#include "controlplane/store/statements.h"

namespace warden::testing {

// `mode` is a plan_cache_mode ("force_custom_plan", "force_generic_plan");
// `args` the statement's arguments as SQL literals.
inline std::string PlanOf(pqxx::transaction_base& tx, const std::string& mode,
                          std::span<const control::store::Statement> statements,
                          const std::string& name, const std::string& args) {
  std::string sql;
  for (const control::store::Statement& statement : statements) {
    if (statement.name == name) sql = std::string(statement.sql);
  }
  EXPECT_FALSE(sql.empty()) << "no statement " << name;
  tx.exec0("SET plan_cache_mode = " + mode);
  tx.exec0("DEALLOCATE ALL");
  tx.exec0("PREPARE q AS " + sql);
  std::string text;
  for (const auto& row : tx.exec("EXPLAIN EXECUTE q(" + args + ")")) {
    text += row[0].as<std::string>() + "\n";
  }
  return text;
}

}  // namespace warden::testing
