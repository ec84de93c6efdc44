#!/usr/bin/env bash
# Install midimon's systemd user unit: ~/.config/systemd/user/midimon.service, with the absolute
# path of midimon (and --config when ~/.config/midimon/config.toml exists), then
# `systemctl --user daemon-reload`. It enables nothing: it prints the command that does.
#
#   bash ci/service/install-user-service.sh [--dry-run] [--midimon PATH] [--config PATH]
#
# --dry-run   print what would be written and run, change nothing
# --midimon   the midimon executable (default: `midimon` on PATH, else .venv/bin/midimon of this
#             checkout)
# --config    the config the daemon runs (default: ~/.config/midimon/config.toml when it exists,
#             else none: the daemon then runs the config bundled with midimon)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
checkout="$(cd "$here/../.." && pwd)"
template="$here/midimon.service"
dry_run=0
exe=""
config=""

usage() { sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) dry_run=1 ;;
        --midimon) exe="${2:?--midimon needs a path}"; shift ;;
        --config) config="${2:?--config needs a path}"; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "install-user-service.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

if [ -z "$exe" ]; then
    exe="$(command -v midimon || true)"
    if [ -z "$exe" ] && [ -x "$checkout/.venv/bin/midimon" ]; then
        exe="$checkout/.venv/bin/midimon"
    fi
fi
if [ -n "$exe" ] && [ ! -x "$exe" ]; then
    echo "install-user-service.sh: $exe is not an executable file" >&2
    exit 1
fi
if [ -z "$exe" ]; then
    echo "install-user-service.sh: no midimon executable found (not on PATH, no" \
         "$checkout/.venv/bin/midimon); run 'bash ci/demo.sh' first or pass --midimon PATH" >&2
    exit 1
fi
case "$exe" in /*) ;; *) exe="$(cd "$(dirname "$exe")" && pwd)/$(basename "$exe")" ;; esac

config_home="${XDG_CONFIG_HOME:-$HOME/.config}"
if [ -z "$config" ] && [ -f "$config_home/midimon/config.toml" ]; then
    config="$config_home/midimon/config.toml"
fi
if [ -n "$config" ]; then
    case "$config" in /*) ;; *) config="$PWD/$config" ;; esac
fi

# systemd unit syntax: quote each word, and write % as %% (specifiers).
quote() { local s="${1//%/%%}"; s="${s//\\/\\\\}"; printf '"%s"' "${s//\"/\\\"}"; }
exec_start="$(quote "$exe") run"
if [ -n "$config" ]; then
    exec_start="$exec_start --config $(quote "$config")"
fi

unit_dir="$config_home/systemd/user"
unit="$unit_dir/midimon.service"
content="$(sed "s|^ExecStart=.*|ExecStart=$(printf '%s' "$exec_start" | sed 's/[&|\\]/\\&/g')|" "$template")"

if [ "$dry_run" = 1 ]; then
    echo "would write $unit"
    echo "  ExecStart=$exec_start"
    [ -n "$config" ] || echo "  (no --config: the daemon would run the config bundled with midimon)"
    echo "would run: systemctl --user daemon-reload"
else
    mkdir -p "$unit_dir"
    printf '%s\n' "$content" > "$unit"
    echo "wrote $unit"
    echo "  ExecStart=$exec_start"
    [ -n "$config" ] || echo "  (no --config: the daemon runs the config bundled with midimon)"
    if ! command -v systemctl >/dev/null 2>&1 || ! systemctl --user daemon-reload; then
        echo "install-user-service.sh: 'systemctl --user daemon-reload' failed; run it in your" \
             "login session before enabling" >&2
        exit 1
    fi
fi
echo "to start it now and at every login:  systemctl --user enable --now midimon.service"
