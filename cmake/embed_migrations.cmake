# Writes a C++ source holding every migrations/*.sql file, in version order.
# Invoked at build time: cmake -DMIGRATIONS_DIR=... -DOUTPUT=... -P embed_migrations.cmake
file(GLOB files RELATIVE "${MIGRATIONS_DIR}" "${MIGRATIONS_DIR}/*.sql")
list(SORT files)
set(body "")
foreach(file IN LISTS files)
  if(NOT file MATCHES "^([0-9][0-9][0-9][0-9])_([a-z0-9_]+)\\.sql$")
    message(FATAL_ERROR "migration file name must be NNNN_name.sql: ${file}")
  endif()
  math(EXPR version "${CMAKE_MATCH_1}")
  set(name "${CMAKE_MATCH_2}")
  file(READ "${MIGRATIONS_DIR}/${file}" sql)
  string(APPEND body "    {${version}, \"${name}\", R\"warden_sql(${sql})warden_sql\"},\n")
endforeach()
file(WRITE "${OUTPUT}.tmp" "// Generated from controlplane/store/migrations; do not edit.
#include \"controlplane/store/migrations.h\"

namespace warden::control::store {

std::span<const Migration> EmbeddedMigrations() {
  static const Migration kMigrations[] = {
${body}  };
  return kMigrations;
}

}  // namespace warden::control::store
")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
