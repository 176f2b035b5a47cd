#!/usr/bin/env bash
# Runs the Pulumi CLI on this project's stack (behind `npm run deploy`, `preview` and `destroy`):
#   bash scripts/pulumi.sh up|preview|destroy|refresh [pulumi flags...]
#   bash scripts/pulumi.sh <any pulumi command>       (e.g. stack output endpoint, config set ...)
# It uses the backend plain `pulumi` uses, and adds checks so that a deploy never lands somewhere
# the user did not mean (docs/operations.md, "Where the state lives"):
# - CLI: `pulumi`, or $PULUMI_CLI; `PULUMI_CLI="npx --yes pulumi"` runs the @pulumi/pulumi SDK's version.
# - backend: $PULUMI_BACKEND_URL if set, else the one Pulumi.yaml names (backend.url). The project's
#   local state (.pulumi-state/) is used only by someone not logged in to another backend, or who asks
#   for it with VLLM_AUTH_LOCAL_STATE=1. A backend that cannot be reached stops here: no fallback.
# - secrets: PULUMI_CONFIG_PASSPHRASE(_FILE) if set; new local state gets a generated passphrase file;
#   without a terminal (CI) it never waits on a prompt.
# - stack: $PULUMI_STACK (default dev), created when missing.
# - preview: with the policy pack in infra/policy when it is there.
# - never adds --yes: without a terminal, up, destroy and refresh need the caller's own --yes.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

STACK="${PULUMI_STACK:-dev}"
STATE_DIR="$ROOT/.pulumi-state"
# Pulumi.yaml's backend.url for the local state; relative, so Pulumi resolves it from this folder.
LOCAL_STATE_URL="file://./.pulumi-state"
POLICY_PACK="infra/policy"
# The `pulumi` npm package (the CLI launcher, not the SDK) is published from 3.250.0 on; it installs
# the CLI version named by PULUMI_VERSION (its lib/resolve.js), here the SDK's.
NPM_LAUNCHER="pulumi@3.250.0"

say() { printf 'scripts/pulumi.sh: %s\n' "$*" >&2; }

if [ "$#" -eq 0 ]; then
  say "usage: bash scripts/pulumi.sh up|preview|destroy|refresh|<pulumi command> [flags...]"
  exit 2
fi

# The command as the user typed it, for hints: `npm run deploy -- --diff` or `bash scripts/pulumi.sh up`.
typed_command() {
  local fixed words=()
  if [ -n "${npm_lifecycle_event:-}" ] && [[ "${npm_lifecycle_script:-}" == *scripts/pulumi.sh* ]]; then
    # Words npm's script line puts after scripts/pulumi.sh are its own; the rest are the user's.
    fixed="${npm_lifecycle_script#*scripts/pulumi.sh}"
    read -r -a words <<<"$fixed"
    local user=("${@:$((${#words[@]} + 1))}")
    if [ "${#user[@]}" -gt 0 ]; then
      printf 'npm run %s -- %s' "$npm_lifecycle_event" "${user[*]}"
    else
      printf 'npm run %s' "$npm_lifecycle_event"
    fi
  else
    printf 'bash scripts/pulumi.sh %s' "$*"
  fi
}
TYPED="$(typed_command "$@")"

# No terminal on stdin (CI, pipes): every Pulumi prompt must become an error, never a wait.
interactive=true
if [ -n "${CI:-}" ] || [ ! -t 0 ]; then
  interactive=false
fi

command="$1"
shift

# Approving changes is the caller's decision: without a terminal, say how to give it, before anything runs.
case "$command" in
  up | update | destroy | refresh)
    approved=false
    for arg in "$@"; do
      case "$arg" in --yes | -y | --yes=true | --skip-preview | -f) approved=true ;; esac
    done
    if [ "$interactive" = false ] && [ "$approved" = false ]; then
      say "pulumi $command without a terminal changes the stack only with your approval: add --yes, e.g. $(typed_command "$command" "$@" --yes)"
      exit 2
    fi
    ;;
esac

# The CLI: installed, or from npm at the SDK's version.
read -r -a PULUMI <<<"${PULUMI_CLI:-pulumi}"
SDK_VERSION="$(sed -n 's/^ *"@pulumi\/pulumi": *"\([^"]*\)".*/\1/p' package.json | head -n 1)"
if [ "${PULUMI[0]}" = npx ] && [ "${PULUMI[${#PULUMI[@]} - 1]}" = pulumi ]; then
  PULUMI[${#PULUMI[@]} - 1]="$NPM_LAUNCHER"
  export PULUMI_VERSION="$SDK_VERSION"
fi

if ! command -v "${PULUMI[0]}" >/dev/null 2>&1; then
  cat >&2 <<EOF
scripts/pulumi.sh: the Pulumi CLI was not found (${PULUMI[0]}).
  Install it:                 curl -fsSL https://get.pulumi.com | sh -s -- --version $SDK_VERSION
                              (macOS: brew install pulumi/tap/pulumi; Windows: winget install pulumi)
  Or run it from npm instead: PULUMI_CLI="npx --yes pulumi" $TYPED
EOF
  exit 127
fi

# What a failed check printed, shown with the script's own message.
errors="$(mktemp)"
trap 'rm -f "$errors"' EXIT

# Run the CLI once before touching any state: a failed download or a broken install stops here.
if ! "${PULUMI[@]}" version </dev/null >/dev/null 2>"$errors"; then
  say "could not run the Pulumi CLI with \`${PULUMI[*]} version\`${PULUMI_VERSION:+ (CLI $PULUMI_VERSION)}:"
  tail -n 5 "$errors" | sed 's/^/  /' >&2
  say "nothing was changed. Check the network (npx downloads the CLI on first use), or install the CLI: curl -fsSL https://get.pulumi.com | sh"
  exit 1
fi

case "$command" in
  version | login | logout | whoami | about | plugin | help | --help | -h)
    rm -f "$errors"
    exec "${PULUMI[@]}" "$command" "$@"
    ;;
esac

# The backend Pulumi.yaml names (backend: / url:), or nothing.
project_backend_url() {
  sed -n '/^backend:/,/^[^ #]/s/^  url: *\([^ #]*\).*/\1/p' Pulumi.yaml | head -n 1
}

# The backend of the user's `pulumi login` (or of PULUMI_ACCESS_TOKEN), or nothing when not logged in.
logged_in_backend() {
  local creds="${PULUMI_CREDENTIALS_PATH:-${PULUMI_HOME:-$HOME/.pulumi}}/credentials.json" current=""
  if [ -s "$creds" ]; then
    current="$(grep -o '"current"[[:space:]]*:[[:space:]]*"[^"]*"' "$creds" | head -n 1 | sed 's/.*"\([^"]*\)"$/\1/')" || true
  fi
  if [ -z "$current" ] && [ -n "${PULUMI_ACCESS_TOKEN:-}" ]; then
    current="https://api.pulumi.com"
  fi
  printf '%s' "$current"
}

# Backend: the caller's PULUMI_BACKEND_URL, else the project's. Never one the caller did not choose.
local_backend=false
if [ -n "${PULUMI_BACKEND_URL:-}" ]; then
  if [ "${VLLM_AUTH_LOCAL_STATE:-}" = 1 ]; then
    say "both PULUMI_BACKEND_URL ($PULUMI_BACKEND_URL) and VLLM_AUTH_LOCAL_STATE=1 are set: unset the one you do not mean"
    exit 2
  fi
  backend_url="$PULUMI_BACKEND_URL"
else
  backend_url="$(project_backend_url)"
  if [ "$backend_url" = "$LOCAL_STATE_URL" ]; then
    login="$(logged_in_backend)"
    if [ -n "$login" ] && [ "${VLLM_AUTH_LOCAL_STATE:-}" != 1 ]; then
      cat >&2 <<EOF
scripts/pulumi.sh: you are logged in to $login, but Pulumi.yaml keeps this project's state in
  .pulumi-state/ (backend.url), which wins over \`pulumi login\` for every pulumi command in this folder.
  Say which one you mean, then run the command again:
    export PULUMI_BACKEND_URL=$login     # your login's backend, for npm scripts and plain pulumi alike
    VLLM_AUTH_LOCAL_STATE=1 $TYPED       # the local state in .pulumi-state/
EOF
      exit 2
    fi
    local_backend=true
  fi
fi

if [ "$local_backend" = true ]; then
  say "state: the local backend in .pulumi-state/ (Pulumi.yaml backend.url); plain pulumi commands here use it too"
elif [ -n "$backend_url" ]; then
  export PULUMI_BACKEND_URL="$backend_url"
fi

# A remote backend must answer before anything runs: an expired token or a network error stops here.
if [ "$local_backend" = false ]; then
  if ! whoami="$("${PULUMI[@]}" whoami --verbose --non-interactive </dev/null 2>"$errors")"; then
    say "the Pulumi backend ${backend_url:-of your login} did not answer \`pulumi whoami\`:"
    tail -n 5 "$errors" | sed 's/^/  /' >&2
    say "nothing was changed and no other backend was tried. Check the network, or log in again: pulumi login ${backend_url}"
    exit 1
  fi
  if [ -z "$backend_url" ]; then
    backend_url="$(printf '%s\n' "$whoami" | sed -n 's/^Backend URL: *//p' | head -n 1)"
  fi
fi

# Secrets: Pulumi Cloud encrypts them itself; self-managed backends need a passphrase.
if [ -z "${PULUMI_CONFIG_PASSPHRASE+set}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ] && [[ "$backend_url" != https://* ]]; then
  passphrase_file="$STATE_DIR/passphrase"
  if [ "$local_backend" = true ] && [ -s "$passphrase_file" ]; then
    export PULUMI_CONFIG_PASSPHRASE_FILE="$passphrase_file"
  elif [ "$local_backend" = true ] && [ -z "$(ls -A "$STATE_DIR/.pulumi/stacks" 2>/dev/null)" ]; then
    # New local state: a generated passphrase, so that no run ever waits on a prompt.
    mkdir -p "$STATE_DIR"
    (umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$passphrase_file")
    export PULUMI_CONFIG_PASSPHRASE_FILE="$passphrase_file"
    say "generated the stack's secrets passphrase in .pulumi-state/passphrase (keep it with the state);"
    say "plain pulumi commands ask for it: export PULUMI_CONFIG_PASSPHRASE_FILE=\"\$PWD/.pulumi-state/passphrase\""
  elif [ "$interactive" = false ]; then
    say "backend ${backend_url} needs the stacks' secrets passphrase: set PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE"
    exit 2
  fi
fi

# The stack: created on first use, selected every time.
select_flags=(--create)
if [ "$interactive" = false ]; then
  select_flags+=(--non-interactive)
fi
if ! "${PULUMI[@]}" stack select "$STACK" "${select_flags[@]}" </dev/null >/dev/null; then
  say "could not select or create stack $STACK on ${backend_url:-the backend} (Pulumi's message above)"
  exit 1
fi

args=("$command" "$@")
case "$command" in
  preview)
    if [ -f "$POLICY_PACK/PulumiPolicy.yaml" ]; then
      args+=(--policy-pack "$POLICY_PACK")
    fi
    ;;
esac
case "$command" in
  up | update | preview | destroy | refresh)
    if [ "$interactive" = false ]; then
      args+=(--non-interactive)
    fi
    ;;
esac

rm -f "$errors"
if [ "$interactive" = false ]; then
  exec "${PULUMI[@]}" "${args[@]}" </dev/null
fi
exec "${PULUMI[@]}" "${args[@]}"
