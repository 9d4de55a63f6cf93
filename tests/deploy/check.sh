#!/usr/bin/env bash
# check.sh - ctest lint.deploy: validates everything under deploy/ with the
# tools that consume it. promtool (config, rules, and rules_test.yml),
# amtool, PyYAML and the built flywheel binary are required (install-deps.sh
# provides them); systemd-analyze is optional and skipped with a message
# when absent.
#   usage: tests/deploy/check.sh REPO_ROOT FLYWHEEL_BINARY
set -euo pipefail

root=${1:?usage: check.sh REPO_ROOT FLYWHEEL_BINARY}
flywheel=${2:?usage: check.sh REPO_ROOT FLYWHEEL_BINARY}
deploy=$root/deploy
here=$root/tests/deploy
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0

step() { printf 'lint.deploy: %s\n' "$*"; }
bad() { printf 'lint.deploy: FAIL: %s\n' "$*" >&2; status=1; }
need() { command -v "$1" >/dev/null 2>&1 || { bad "$1 not found (run tools/install-deps.sh)"; exit 1; }; }

need promtool
need amtool

step "promtool check config deploy/prometheus/prometheus.yml"
promtool check config "$deploy/prometheus/prometheus.yml" || bad "prometheus.yml"
step "promtool check rules deploy/prometheus/rules.yml"
promtool check rules "$deploy/prometheus/rules.yml" || bad "rules.yml"
step "promtool test rules tests/deploy/rules_test.yml"
(cd "$here" && promtool test rules rules_test.yml) || bad "rules_test.yml"
step "amtool check-config deploy/alertmanager/alertmanager.yml"
amtool check-config "$deploy/alertmanager/alertmanager.yml" || bad "alertmanager.yml"
grep -q 'url: http://flywheel:4320/api/v1/alarms/alertmanager' \
  "$deploy/alertmanager/alertmanager.yml" || bad "alertmanager.yml: no webhook to flywheel"

# systemd-analyze needs ExecStart to exist: verify a copy that runs the
# built binary. It exits 0 on unknown keys, so any diagnostic is a failure.
if command -v systemd-analyze >/dev/null 2>&1; then
  step "systemd-analyze verify deploy/flywheel.service"
  sed "s#/usr/local/bin/flywheel#$flywheel#g" "$deploy/flywheel.service" >"$tmp/flywheel.service"
  if ! systemd-analyze verify "$tmp/flywheel.service" >"$tmp/verify.out" 2>&1 ||
     [ -s "$tmp/verify.out" ]; then
    cat "$tmp/verify.out" >&2
    bad "flywheel.service does not verify"
  fi
  # Exposure score 0-10 (shown x10 here): the hardening must stay in place.
  step "systemd-analyze security --offline (exposure at most 2.0)"
  systemd-analyze security --offline=true --threshold=20 "$tmp/flywheel.service" \
    >"$tmp/security.out" 2>&1 || { tail -n 30 "$tmp/security.out" >&2; bad "flywheel.service exposure above 2.0"; }
  grep 'Overall exposure' "$tmp/security.out" || true
else
  step "SKIP systemd-analyze verify: systemd-analyze not installed"
fi

py=
for p in python3 /usr/bin/python3; do
  if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import yaml' 2>/dev/null; then py=$p; break; fi
done
[ -n "$py" ] || { bad "no python3 with PyYAML (Debian package python3-yaml)"; exit 1; }
step "parse and check deploy/kubernetes/*.yaml"
if "$py" "$here/check_manifests.py" "$deploy" "$tmp/k8s-flywheel.yaml"; then
  # The ConfigMap's configuration must load in flywheel itself.
  step "flywheel serve --config <ConfigMap flywheel.yaml> --print-config"
  if "$flywheel" serve --config "$tmp/k8s-flywheel.yaml" --print-config >"$tmp/effective.yaml" 2>"$tmp/err"; then
    grep -q '0\.0\.0\.0:4317' "$tmp/effective.yaml" || bad "ConfigMap: effective config lacks 0.0.0.0:4317"
  else
    cat "$tmp/err" >&2
    bad "ConfigMap flywheel.yaml does not load"
  fi
else
  bad "deploy/kubernetes"
fi

[ "$status" -eq 0 ] && step "OK"
exit "$status"
