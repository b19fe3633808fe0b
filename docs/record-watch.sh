#!/usr/bin/env bash
# Records docs/wardenctl-watch.txt: a real terminal (tmux, 200x48) whose top
# pane runs `wardenctl watch` while the bottom pane connects fake devices of
# one user through the local agent's memory driver and evicts them.
#
# Needs a running ./scripts/run (or the same processes started by hand) and
# WARDEN_SERVER / WARDEN_KEY_FILE / WARDEN_INSECURE set as it prints them;
# WARDEN_MEMCTL_SOCKET when the agent's socket is elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/wardenctl-watch.txt}
session=warden-watch-$$
ctl=./scripts/wardenctl
memctl=./scripts/memctl
user=${WATCH_USER:-alice}

"$ctl" users create "$user" --max-connections 2 -q >/dev/null
tmux new-session -d -s "$session" -x 200 -y 48 -c "$PWD"
trap 'tmux kill-session -t "$session" 2>/dev/null || true' EXIT
tmux send-keys -t "$session" "PS1='$ '; clear" Enter
tmux send-keys -t "$session" "TERM=xterm-256color $ctl watch" Enter
tmux split-window -v -t "$session" -l 16 -c "$PWD"
tmux send-keys -t "$session.1" "PS1='$ '; clear" Enter
sleep 2
for step in \
  "$memctl open laptop $user --label laptop" \
  "$memctl open phone $user --label phone --protocol wireguard" \
  "$memctl open tablet $user --label tablet    # a third device: the oldest is evicted" \
  "$ctl sessions list --user $user" \
  "$ctl disconnect $user --reason 'end of demo'"; do
  tmux send-keys -t "$session.1" "$step" Enter
  sleep 2
done
{
  echo "# top pane"
  tmux capture-pane -p -t "$session.0"
  echo "--------------------------------------------------------------------------------"
  echo "# bottom pane"
  tmux capture-pane -p -t "$session.1"
} | sed -e 's/[[:space:]]*$//' | cat -s > "$out"
echo "wrote $out"
