#!/bin/bash
# HEALTHCHECK of the warden-agent image: healthy while the agent's link to a
# control-plane replica is up (GET /readyz answers 200 on its metrics and
# health listener). Reads the port from WARDEN_AGENT_METRICS_LISTEN.
set -eu
listen=${WARDEN_AGENT_METRICS_LISTEN:?the agent serves no metrics or health: set WARDEN_AGENT_METRICS_LISTEN}
port=${listen##*:}
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'GET /readyz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
head -n 1 <&3 | grep -q ' 200 '
