#pragma once

// Each file in this folder adds one group of commands to the tree.

namespace warden::wardenctl {

class Cli;

void AddUserCommands(Cli& cli);       // users create|get|list|update|disable|enable|delete
void AddNodeCommands(Cli& cli);       // nodes …, enroll
void AddSessionCommands(Cli& cli);    // sessions list|kill, disconnect
void AddDeviceCommands(Cli& cli);     // devices register|list|revoke
void AddFamilyCommands(Cli& cli);     // families list|revoke
void AddKeyCommands(Cli& cli);        // keys create|list|revoke
void AddAuditCommands(Cli& cli);      // audit [--follow], watch
void AddStatsCommand(Cli& cli);       // stats
void AddPlanCommands(Cli& cli);       // plans create|get|list|update|delete
void AddUsageCommands(Cli& cli);      // usage get|top|reset|grant
void AddWebhookCommands(Cli& cli);    // webhooks …
void AddSsoCommands(Cli& cli);        // sso providers
void AddConfigCommands(Cli& cli);     // config view|contexts|use
void AddCompletionCommand(Cli& cli);  // completion bash|zsh

}  // namespace warden::wardenctl
