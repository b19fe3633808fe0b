#pragma once

// What the database says about a refresh token a client presented, read
// when its renewal lease could not be taken. families::DecideRefresh turns
// it into a verdict.

#include "absl/time/time.h"

namespace warden::control::model {

struct PresentedToken {
  bool found = false;
  // The family is not revoked, not past its lifetime or idle timeout, and
  // its user is enabled.
  bool family_live = false;
  bool spent = false;  // rotated before
  // On the database's clock, as is `observed_at`: its now() when it read
  // them. The rule compares them with that: every replica sees the same
  // times, whatever its own clock says.
  absl::Time lease_until = absl::InfinitePast();
  absl::Time rotated_at = absl::InfinitePast();
  absl::Time observed_at = absl::InfinitePast();
  // The lease (or the rotation) was taken by a request with the same
  // request_id as this one.
  bool same_request = false;
  // The rotation's result is still kept, sealed for its request; it is
  // dropped once the newer refresh token is itself spent.
  bool has_sealed_result = false;
};

}  // namespace warden::control::model
