#include "controlplane/dispatch/link_registry.h"

#include <algorithm>

#include "absl/hash/hash.h"

namespace warden::control::dispatch {

LinkRegistry::LinkRegistry(LinkRegistryOptions options, const Clock& clock)
    : options_(options), clock_(clock) {}

void LinkRegistry::AwaitHello(std::shared_ptr<AgentChannel> channel) {
  absl::MutexLock lock(&mu_);
  awaiting_hello_.emplace_back(std::move(channel), clock_.Now());
}

void LinkRegistry::HelloHeard(const AgentChannel* channel) {
  absl::MutexLock lock(&mu_);
  std::erase_if(awaiting_hello_, [&](const auto& entry) { return entry.first.get() == channel; });
}

std::vector<std::shared_ptr<AgentChannel>> LinkRegistry::ExpireHellos() {
  const absl::Time now = clock_.Now();
  std::vector<std::shared_ptr<AgentChannel>> mute;
  absl::MutexLock lock(&mu_);
  std::erase_if(awaiting_hello_, [&](auto& entry) {
    if (entry.second + options_.hello_timeout > now) return false;
    mute.push_back(std::move(entry.first));
    return true;
  });
  return mute;
}

std::shared_ptr<AgentChannel> LinkRegistry::Fence(const std::string& node_id, int64_t epoch) {
  absl::MutexLock lock(&mu_);
  auto it = links_.find(node_id);
  if (it == links_.end() || it->second.epoch >= epoch) return nullptr;
  std::shared_ptr<AgentChannel> superseded = std::move(it->second.channel);
  links_.erase(it);
  return superseded;
}

absl::StatusOr<std::shared_ptr<AgentChannel>> LinkRegistry::Register(
    const std::string& node_id, int64_t epoch, std::shared_ptr<AgentChannel> channel) {
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = links_.try_emplace(node_id);
  if (!inserted && it->second.epoch > epoch) {
    return absl::AbortedError("superseded by a newer attach of this node");
  }
  std::shared_ptr<AgentChannel> replaced;
  if (!inserted && it->second.channel != channel) replaced = std::move(it->second.channel);
  it->second = Link();
  it->second.channel = std::move(channel);
  it->second.epoch = epoch;
  it->second.last_heard = clock_.Now();
  return replaced;
}

bool LinkRegistry::Welcome(const std::string& node_id) {
  absl::MutexLock lock(&mu_);
  auto it = links_.find(node_id);
  if (it == links_.end()) return false;
  it->second.welcomed = true;
  return true;
}

void LinkRegistry::Detach(const std::string& node_id, const AgentChannel* channel) {
  absl::MutexLock lock(&mu_);
  std::erase_if(awaiting_hello_, [&](const auto& entry) { return entry.first.get() == channel; });
  auto it = links_.find(node_id);
  if (it != links_.end() && it->second.channel.get() == channel) links_.erase(it);
}

void LinkRegistry::Heard(const std::string& node_id) {
  absl::MutexLock lock(&mu_);
  auto it = links_.find(node_id);
  if (it != links_.end()) it->second.last_heard = clock_.Now();
}

bool LinkRegistry::ClaimDelivery(const std::string& node_id) {
  absl::MutexLock lock(&mu_);
  auto it = links_.find(node_id);
  if (it == links_.end() || !it->second.welcomed || it->second.delivery_scheduled) return false;
  it->second.delivery_scheduled = true;
  return true;
}

void LinkRegistry::ReleaseDelivery(const std::string& node_id) {
  absl::MutexLock lock(&mu_);
  auto it = links_.find(node_id);
  if (it != links_.end()) it->second.delivery_scheduled = false;
}

bool LinkRegistry::BeginDelivery(const std::string& node_id) {
  absl::MutexLock lock(&mu_);
  auto it = links_.find(node_id);
  if (it == links_.end()) return false;
  it->second.delivery_scheduled = false;
  return true;
}

std::shared_ptr<AgentChannel> LinkRegistry::TakeUnsent(const std::string& node_id,
                                                       std::span<const model::Command> pending,
                                                       std::vector<const model::Command*>& unsent) {
  absl::MutexLock lock(&mu_);
  auto it = links_.find(node_id);
  if (it == links_.end()) return nullptr;
  for (const model::Command& command : pending) {
    const InFlight sent{.kind = command.kind, .due_at = command.due_at};
    if (it->second.in_flight.try_emplace(command.id, sent).second) unsent.push_back(&command);
  }
  return it->second.channel;
}

std::optional<InFlight> LinkRegistry::Answered(const std::string& node_id, int64_t command_id) {
  absl::MutexLock lock(&mu_);
  auto it = links_.find(node_id);
  if (it == links_.end()) return std::nullopt;
  auto sent = it->second.in_flight.find(command_id);
  if (sent == it->second.in_flight.end()) return std::nullopt;
  InFlight answered = sent->second;
  it->second.in_flight.erase(sent);
  return answered;
}

HeartbeatRound LinkRegistry::Heartbeat(int slice, int slices) {
  const absl::Time silent_since = clock_.Now() - 3 * options_.heartbeat_interval;
  HeartbeatRound round;
  absl::MutexLock lock(&mu_);
  for (auto it = links_.begin(); it != links_.end();) {
    if (slices > 1 && absl::HashOf(it->first) % slices != static_cast<size_t>(slice)) {
      ++it;
      continue;
    }
    if (it->second.last_heard < silent_since) {
      round.silent.push_back(std::move(it->second.channel));
      links_.erase(it++);
      continue;
    }
    round.alive.push_back(it->second.channel);
    round.alive_nodes.push_back(it->first);
    ++it;
  }
  return round;
}

std::vector<std::shared_ptr<AgentChannel>> LinkRegistry::TakeAll() {
  std::vector<std::shared_ptr<AgentChannel>> channels;
  absl::MutexLock lock(&mu_);
  for (auto& [node, link] : links_) channels.push_back(std::move(link.channel));
  for (auto& [channel, since] : awaiting_hello_) channels.push_back(std::move(channel));
  links_.clear();
  awaiting_hello_.clear();
  return channels;
}

std::vector<std::string> LinkRegistry::Nodes() const {
  std::vector<std::string> nodes;
  absl::MutexLock lock(&mu_);
  for (const auto& [node, link] : links_) nodes.push_back(node);
  return nodes;
}

int LinkRegistry::size() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(links_.size());
}

bool LinkRegistry::IsAttached(const std::string& node_id) const {
  absl::MutexLock lock(&mu_);
  return links_.contains(node_id);
}

}  // namespace warden::control::dispatch
