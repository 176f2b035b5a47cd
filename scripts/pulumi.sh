#!/usr/bin/env bash
# Runs the Pulumi CLI on this project's stack with everything a first run needs:
#   bash scripts/pulumi.sh up|preview|destroy|refresh [pulumi flags...]
#   bash scripts/pulumi.sh <any pulumi command>       (e.g. stack output endpoint, config set ...)
# - backend: the one `pulumi whoami` reports, else a local file backend in .pulumi-state/;
# - secrets: PULUMI_CONFIG_PASSPHRASE(_FILE) if set, else a generated passphrase file for the local
#   backend; it never waits on a prompt when there is no terminal (CI);
# - stack: $PULUMI_STACK (default dev), created when missing;
# - preview: with the policy pack in infra/policy when it is there.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

STACK="${PULUMI_STACK:-dev}"
STATE_DIR="$ROOT/.pulumi-state"
POLICY_PACK="infra/policy"
# `PULUMI_CLI="npx --yes pulumi"` runs the CLI from the pulumi npm package instead of an installed one.
read -r -a PULUMI <<<"${PULUMI_CLI:-pulumi}"

say() { printf 'scripts/pulumi.sh: %s\n' "$*" >&2; }

if [ "$#" -eq 0 ]; then
  say "usage: bash scripts/pulumi.sh up|preview|destroy|refresh|<pulumi command> [flags...]"
  exit 2
fi

if ! command -v "${PULUMI[0]}" >/dev/null 2>&1; then
  cat >&2 <<'EOF'
scripts/pulumi.sh: the Pulumi CLI was not found.
  Install it:                 curl -fsSL https://get.pulumi.com | sh
                              (macOS: brew install pulumi/tap/pulumi; Windows: winget install pulumi)
  Or run it from npm instead: PULUMI_CLI="npx --yes pulumi" npm run deploy
EOF
  exit 127
fi

# No terminal on stdin (CI, pipes): every Pulumi prompt must become an error, never a wait.
interactive=true
if [ -n "${CI:-}" ] || [ ! -t 0 ]; then
  interactive=false
fi

# Backend: keep the user's login; otherwise a local file backend inside the repository.
local_backend=false
if [ -z "${PULUMI_BACKEND_URL:-}" ]; then
  if whoami="$("${PULUMI[@]}" whoami --verbose --non-interactive </dev/null 2>/dev/null)"; then
    backend_url="$(printf '%s\n' "$whoami" | sed -n 's/^Backend URL: *//p' | head -n 1)"
  else
    mkdir -p "$STATE_DIR"
    export PULUMI_BACKEND_URL="file://$STATE_DIR"
    backend_url="$PULUMI_BACKEND_URL"
    local_backend=true
    say "not logged in to a Pulumi backend: using the local state in .pulumi-state/"
  fi
else
  backend_url="$PULUMI_BACKEND_URL"
fi

# Secrets: Pulumi Cloud encrypts them itself; self-managed backends need a passphrase.
if [ -z "${PULUMI_CONFIG_PASSPHRASE+set}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ] && [[ "$backend_url" != https://* ]]; then
  if [ "$local_backend" = true ]; then
    passphrase_file="$STATE_DIR/passphrase"
    if [ ! -s "$passphrase_file" ]; then
      (umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$passphrase_file")
      say "generated the stack's secrets passphrase in .pulumi-state/passphrase (keep it with the state)"
    fi
    export PULUMI_CONFIG_PASSPHRASE_FILE="$passphrase_file"
  elif [ "$interactive" = false ]; then
    say "backend $backend_url needs a secrets passphrase: set PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE"
    exit 2
  fi
fi

command="$1"
shift
case "$command" in
  version | login | logout | whoami | about | plugin | help | --help | -h)
    exec "${PULUMI[@]}" "$command" "$@"
    ;;
esac

# The stack: created on first use, selected every time.
select_flags=(--create)
if [ "$interactive" = false ]; then
  select_flags+=(--non-interactive)
fi
if ! "${PULUMI[@]}" stack select "$STACK" "${select_flags[@]}" </dev/null >/dev/null; then
  say "could not select or create stack $STACK"
  exit 1
fi

args=("$command" "$@")
case "$command" in
  up | update)
    if [ "$interactive" = false ]; then
      args+=(--yes --non-interactive)
    fi
    ;;
  preview)
    if [ -f "$POLICY_PACK/PulumiPolicy.yaml" ]; then
      args+=(--policy-pack "$POLICY_PACK")
    fi
    if [ "$interactive" = false ]; then
      args+=(--non-interactive)
    fi
    ;;
  destroy | refresh)
    # destroy still needs an explicit --yes without a terminal: `npm run destroy -- --yes`.
    if [ "$interactive" = false ]; then
      args+=(--non-interactive)
    fi
    ;;
esac

if [ "$interactive" = false ]; then
  exec "${PULUMI[@]}" "${args[@]}" </dev/null
fi
exec "${PULUMI[@]}" "${args[@]}"
