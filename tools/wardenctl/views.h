#pragma once

// The columns each kind of object shows in a table; --wide adds the
// wide_only ones. What a person needs to act comes first (names, states),
// ids of things an operator rarely types go to --wide.

#include <string>

#include "tools/wardenctl/event_line.h"
#include "tools/wardenctl/printer.h"
#include "tools/wardenctl/time_text.h"
#include "warden/v1/admin.pb.h"

namespace warden::wardenctl {

View<v1::User> UserView(const TimeText& time);
View<v1::Plan> PlanView(const TimeText& time);
View<v1::Node> NodeView(const TimeText& time);
// "region=eu-west,tier=premium", by key; "none" without labels.
std::string LabelsText(const v1::Node& node);
View<v1::Session> SessionView(const TimeText& time);
View<v1::Device> DeviceView(const TimeText& time);
View<v1::Family> FamilyView(const TimeText& time);
View<v1::ApiKey> ApiKeyView(const TimeText& time);
// With `names`, user and node ids in details are shown by name.
View<v1::AuditEvent> AuditView(const TimeText& time, const NameOf& names = nullptr);
View<v1::Webhook> WebhookView(const TimeText& time);
View<v1::WebhookDelivery> DeliveryView(const TimeText& time);
std::string DeliveryStatusName(v1::DeliveryStatus status);
View<v1::UserUsage> TopUserView();
View<v1::UsagePeriod> UsagePeriodView();

}  // namespace warden::wardenctl
