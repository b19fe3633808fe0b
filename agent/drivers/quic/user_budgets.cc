#include "agent/drivers/quic/user_budgets.h"

namespace warden::agent::quic {

std::shared_ptr<GcraLimiter> UserBudgets::Acquire(const std::string& username,
                                                  int64_t bytes_per_second, int64_t now_ns) {
  Budget& budget = budgets_[username];
  if (budget.limiter == nullptr) {
    budget.limiter = std::make_shared<GcraLimiter>(
        bytes_per_second, GcraLimiter::BandwidthBurst(bytes_per_second), now_ns);
    budget.bytes_per_second = bytes_per_second;
  } else if (budget.bytes_per_second != bytes_per_second) {
    SetRate(username, bytes_per_second);
  }
  ++budget.connections;
  return budget.limiter;
}

void UserBudgets::Release(const std::string& username) {
  auto it = budgets_.find(username);
  if (it == budgets_.end()) return;
  if (--it->second.connections <= 0) budgets_.erase(it);
}

bool UserBudgets::SetRate(const std::string& username, int64_t bytes_per_second) {
  auto it = budgets_.find(username);
  if (it == budgets_.end()) return false;
  it->second.bytes_per_second = bytes_per_second;
  it->second.limiter->SetRate(bytes_per_second, GcraLimiter::BandwidthBurst(bytes_per_second));
  return true;
}

int64_t UserBudgets::RateOf(const std::string& username) const {
  auto it = budgets_.find(username);
  return it == budgets_.end() ? -1 : it->second.bytes_per_second;
}

}  // namespace warden::agent::quic
