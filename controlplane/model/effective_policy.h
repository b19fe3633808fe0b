#pragma once

// How a user's limits come to be: their own where set, else their plan's,
// else the defaults; and whether a node is one a user may use. Pure rules
// on model values, shared by the store (which reads rows into them) and
// the domain (which decides with them).

#include <optional>
#include <string>

#include "absl/time/time.h"
#include "controlplane/model/admission.h"
#include "controlplane/model/policy.h"

namespace warden::control::model {

// `plan` is null for a user without a plan.
EffectivePolicy ResolvePolicy(const LimitSet& user, const LimitSet* plan,
                              const std::string& plan_name);

// Whether a node with these labels is one the selector allows (every key
// present, with one of its values).
bool NodeMatches(const NodeSelector& selector, const NodeLabels& labels);

// The limits an admission is decided by: the effective policy and the
// account's state.
UserLimits LimitsOf(const EffectivePolicy& policy, bool disabled,
                    std::optional<absl::Time> expires_at);

}  // namespace warden::control::model
