#!/bin/bash
# HEALTHCHECK of the warden-agent image: healthy while the agent's link to a
# control-plane replica is up, as its metrics endpoint says
# (warden_agent_link_up 1). Reads the port from WARDEN_AGENT_METRICS_LISTEN.
set -eu
listen=${WARDEN_AGENT_METRICS_LISTEN:?the agent serves no metrics: set WARDEN_AGENT_METRICS_LISTEN}
port=${listen##*:}
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
grep -q '^warden_agent_link_up 1' <&3
