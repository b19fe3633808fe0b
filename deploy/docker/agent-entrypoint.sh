#!/bin/sh
# Entrypoint of the warden-agent image: finds the enrolment ticket, optionally
# brings up a wireguard-go interface, then runs warden-agent with the
# container's arguments.
#
# Environment (all optional):
#   WARDEN_AGENT_ENROLL_TICKET  the ticket itself (read by warden-agent)
#   WARDEN_AGENT_TICKET_DIR     a directory of tickets named after the node
#                               (a mounted Kubernetes Secret, one key per node);
#                               used when WARDEN_AGENT_ENROLL_TICKET is empty
#   WARDEN_AGENT_NODE_NAME      this node's name (picks the ticket file)
#   WARDEN_WG_SETUP_IFACE       create this WireGuard interface with wireguard-go
#                               when it does not exist (e.g. wg0), with:
#   WARDEN_WG_ADDRESS           its address (default 10.66.0.1/16, host .1 of
#                               warden-control's --wg-pool-v4)
#   WARDEN_WG_LISTEN_PORT       its UDP port (default 51820)
#   The interface's private key is kept in $WARDEN_AGENT_STATE_DIR/<iface>.key.
set -eu

state_dir=${WARDEN_AGENT_STATE_DIR:-/var/lib/warden-agent}
mkdir -p "$state_dir"
chmod 0700 "$state_dir"

if [ -z "${WARDEN_AGENT_ENROLL_TICKET:-}" ] && [ ! -s "$state_dir/credential" ] &&
   [ -n "${WARDEN_AGENT_TICKET_DIR:-}" ] && [ -n "${WARDEN_AGENT_NODE_NAME:-}" ] &&
   [ -r "$WARDEN_AGENT_TICKET_DIR/$WARDEN_AGENT_NODE_NAME" ]; then
  WARDEN_AGENT_ENROLL_TICKET=$(cat "$WARDEN_AGENT_TICKET_DIR/$WARDEN_AGENT_NODE_NAME")
  export WARDEN_AGENT_ENROLL_TICKET
  echo "warden-agent-entrypoint: using the enrolment ticket for node $WARDEN_AGENT_NODE_NAME"
fi

iface=${WARDEN_WG_SETUP_IFACE:-}
if [ -n "$iface" ] && ! ip link show dev "$iface" >/dev/null 2>&1; then
  key_file=$state_dir/$iface.key
  if [ ! -s "$key_file" ]; then
    (umask 077 && wg genkey >"$key_file")
  fi
  # wireguard-go puts itself in the background once the interface exists and
  # serves its UAPI socket in /var/run/wireguard, which the agent's
  # wireguard driver uses.
  wireguard-go "$iface"
  wg set "$iface" listen-port "${WARDEN_WG_LISTEN_PORT:-51820}" private-key "$key_file"
  ip address add "${WARDEN_WG_ADDRESS:-10.66.0.1/16}" dev "$iface"
  ip link set "$iface" up
  echo "warden-agent-entrypoint: $iface is up (public key $(wg show "$iface" public-key))"
fi

exec /usr/local/bin/warden-agent "$@"
