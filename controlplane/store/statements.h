#pragma once

#include <vector>

#include "controlplane/store/database.h"

namespace warden::control::store {

// Every prepared statement of every repository, registered on each new
// connection of the pool.
std::vector<Statement> AllStatements();

}  // namespace warden::control::store
