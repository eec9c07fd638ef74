#!/usr/bin/env bash
# The systemd units in systemd/ agree with systemd, with the code and with the example config:
#  1. static checks that must always hold (Type=notify, watchdog, HUP reload, credential names =
#     the *_file names of config/canaryd.yaml.example, socket path = canaryctl's default, ...);
#  2. `systemd-analyze verify` on copies whose ExecStart points at the build's canaryd, when
#     systemd-analyze is installed (the exposure bar is test-security-exposure.sh);
#  3. the daemon under the contract those units set up: socket activation (sd_listen_fds),
#     $CREDENTIALS_DIRECTORY (secrets and a relative kubeconfig), NOTIFY_SOCKET (READY/STATUS/WATCHDOG/RELOADING/STOPPING), SIGHUP
#     reload (bad file refused), SIGTERM exit 0, inherited socket path left alone.
# Exits non-zero on any failure; "SKIP" and 0 only when bash tools it needs are absent.
# ok() never fails, so `A && ok || fail` is an if; '$MAINPID' is meant literally.
# shellcheck disable=SC2015,SC2016
set -euo pipefail

SRC=${CANARYD_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BUILD=${CANARYD_BUILD_DIR:-$SRC/build-asan}
UNITS=$SRC/systemd
SERVICE=$UNITS/canaryd.service
SOCKET=$UNITS/canaryd.socket
EXAMPLE=$SRC/config/canaryd.yaml.example

for tool in grep sed awk mktemp; do
	command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed"; exit 0; }
done

T=$(mktemp -d -t canaryd-units.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$T"
}
trap cleanup EXIT

failures=0
fail() {
	echo "FAIL: $*" >&2
	failures=$((failures + 1))
}
ok() { echo "ok: $*"; }

# Values of KEY= in a unit file, one per line, comments and blank lines ignored.
values() {
	sed -n "s/^[[:space:]]*$2=//p" "$1"
}
has() { # FILE KEY VALUE: some KEY= line has exactly VALUE
	values "$1" "$2" | grep -qxF -- "$3"
}
require() {
	if has "$1" "$2" "$3"; then ok "$(basename "$1"): $2=$3"; else fail "$(basename "$1"): no $2=$3"; fi
}

# ---------------------------------------------------------------- 1. static checks
[ -f "$SERVICE" ] || { fail "missing $SERVICE"; exit 1; }
[ -f "$SOCKET" ] || { fail "missing $SOCKET"; exit 1; }

require "$SERVICE" Type notify
require "$SERVICE" ExecStart "/usr/bin/canaryd --config /etc/canaryd/canaryd.yaml"
require "$SERVICE" Restart on-failure
require "$SERVICE" RuntimeDirectory canaryd
require "$SERVICE" StateDirectory canaryd
require "$SERVICE" ConfigurationDirectory canaryd
require "$SERVICE" LoadCredential kubeconfig:/etc/canaryd/credentials/kubeconfig

wd=$(values "$SERVICE" WatchdogSec | tail -n 1)
case "$wd" in
'' | 0 | 0s | infinity) fail "WatchdogSec not set (got '$wd')" ;;
*) ok "WatchdogSec=$wd" ;;
esac

if values "$SERVICE" ExecReload | grep -Eq '^[-@:+!]*/(usr/)?bin/kill (-HUP|-s HUP|--signal HUP|-SIGHUP) \$MAINPID$'; then
	ok "ExecReload sends SIGHUP to \$MAINPID"
else
	fail "no ExecReload=/bin/kill -HUP \$MAINPID"
fi

# TimeoutStopSec must leave room for the daemon's own stop deadline (src/daemon/main.c).
tss=$(values "$SERVICE" TimeoutStopSec | tail -n 1)
tss_s=$(echo "$tss" | sed -n 's/^\([0-9][0-9]*\)s\{0,1\}$/\1/p')
deadline=$(sed -n 's/^#define STOP_DEADLINE[[:space:]]*(\([0-9][0-9]*\) \* USEC_PER_SEC)/\1/p' \
	"$SRC/src/daemon/main.c")
if [ -z "$tss_s" ]; then
	fail "TimeoutStopSec must be a plain number of seconds (got '$tss')"
elif [ -n "$deadline" ] && [ "$tss_s" -le "$deadline" ]; then
	fail "TimeoutStopSec=$tss is not above the daemon's stop deadline of ${deadline}s"
else
	ok "TimeoutStopSec=$tss (daemon deadline ${deadline:-?}s)"
fi

# Every *_file name in the example config (active or commented out) is a LoadCredential= ID,
# and every SetCredential= fallback belongs to a LoadCredential=.
load_ids=$(values "$SERVICE" LoadCredential | sed 's/:.*//' | sort -u)
set_ids=$(values "$SERVICE" SetCredential | sed 's/:.*//' | sort -u)
file_names=$(sed -n 's/^[[:space:]#]*[a-z_]*_file:[[:space:]]*\([^[:space:]#]*\).*/\1/p' "$EXAMPLE" |
	sort -u)
[ -n "$file_names" ] || fail "no *_file keys found in $EXAMPLE"
for f in $file_names; do
	case "$f" in
	/*) fail "$EXAMPLE: $f is absolute: the unit's credentials would not be used" ;;
	*) if echo "$load_ids" | grep -qxF "$f"; then ok "LoadCredential=$f (config *_file)"; else
		fail "config names *_file $f but the service has no LoadCredential=$f"
	fi ;;
	esac
done
for id in $set_ids; do
	echo "$load_ids" | grep -qxF "$id" || fail "SetCredential=$id without LoadCredential=$id"
done
for id in $load_ids; do
	path=$(values "$SERVICE" LoadCredential | sed -n "s/^$id://p")
	[ "$path" = "/etc/canaryd/credentials/$id" ] || fail "LoadCredential=$id reads '$path'"
done

# Sandboxing that must not regress.
for kv in ProtectSystem=strict ProtectHome=yes PrivateTmp=yes NoNewPrivileges=yes \
	CapabilityBoundingSet= MemoryDenyWriteExecute=yes LockPersonality=yes \
	ProtectKernelTunables=yes ProtectKernelModules=yes ProtectKernelLogs=yes \
	ProtectControlGroups=yes RestrictNamespaces=yes RestrictSUIDSGID=yes \
	SystemCallArchitectures=native SystemCallFilter=@system-service \
	"RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6"; do
	require "$SERVICE" "${kv%%=*}" "${kv#*=}"
done
# SO_PEERCRED must see real uids for "who asked": no user namespace.
if has "$SERVICE" PrivateUsers yes; then fail "PrivateUsers=yes hides canaryctl peers' uids"; fi

# The socket: where canaryctl and the config expect it, in the service's RuntimeDirectory.
listen=$(values "$SOCKET" ListenStream | tail -n 1)
ctl_default=$(sed -n 's/^#define DEFAULT_SOCKET[[:space:]]*"\(.*\)"/\1/p' "$SRC/src/ctl/canaryctl.c")
cfg_default=$(sed -n 's/^[[:space:]]*socket:[[:space:]]*\([^[:space:]#]*\).*/\1/p' "$EXAMPLE" | head -n 1)
[ "$listen" = "/run/canaryd/control.sock" ] || fail "ListenStream=$listen"
[ "$listen" = "$ctl_default" ] || fail "ListenStream=$listen but canaryctl defaults to '$ctl_default'"
[ "$listen" = "$cfg_default" ] || fail "ListenStream=$listen but the example config has '$cfg_default'"
ok "ListenStream=$listen = canaryctl default = example control.socket"
require "$SOCKET" SocketMode 0660
require "$SOCKET" SocketGroup canaryd
group=$(values "$SERVICE" Group | tail -n 1)
[ "$group" = "$(values "$SOCKET" SocketGroup | tail -n 1)" ] ||
	fail "SocketGroup differs from the service's Group=$group"
has "$SERVICE" RuntimeDirectoryPreserve yes ||
	fail "RuntimeDirectory= without RuntimeDirectoryPreserve=yes deletes the socket unit's socket"
if [ -f "$UNITS/canaryd.sysusers" ]; then
	grep -Eq '^u[[:space:]]+canaryd[[:space:]]' "$UNITS/canaryd.sysusers" ||
		fail "canaryd.sysusers does not create user canaryd"
fi

# The code does what the units assume.
grep -q 'sd_listen_fds' "$SRC/src/daemon/main.c" || fail "main.c no longer calls sd_listen_fds"
grep -q 'READY=1' "$SRC/src/daemon/main.c" || fail "main.c no longer sends READY=1"
grep -q 'SIGHUP' "$SRC/src/daemon/main.c" || fail "main.c no longer handles SIGHUP"
grep -q 'CREDENTIALS_DIRECTORY' "$SRC/src/daemon/main.c" ||
	fail "main.c no longer reads \$CREDENTIALS_DIRECTORY"

# ---------------------------------------------------------------- 2. systemd-analyze
CANARYD=$BUILD/canaryd
CANARYCTL=$BUILD/canaryctl
if command -v systemd-analyze >/dev/null; then
	mkdir -p "$T/units"
	exe=$CANARYD
	[ -x "$exe" ] || exe=/bin/true # verify wants an executable path
	sed "s#/usr/bin/canaryd#$exe#g" "$SERVICE" >"$T/units/canaryd.service"
	cp "$SOCKET" "$T/units/canaryd.socket"
	if out=$(cd "$T/units" && timeout 20 systemd-analyze verify --man=no \
		canaryd.service canaryd.socket 2>&1); then
		rc=0
	else
		rc=$?
	fi
	# verify exits 0 on most warnings: any line about our units is a failure.
	bad=$(echo "$out" | grep -E 'canaryd\.(service|socket)' || true)
	if [ $rc != 0 ] || [ -n "$bad" ]; then
		fail "systemd-analyze verify (rc $rc):"
		echo "$out" >&2
	else
		ok "systemd-analyze verify: clean"
	fi
	# The exposure bar (security --offline) is test-security-exposure.sh.
else
	echo "note: systemd-analyze not installed; static checks only"
fi

# sysusers and tmpfiles snippets apply cleanly to an empty root (tmpfiles chowns: root only).
if [ -f "$UNITS/canaryd.sysusers" ] && command -v systemd-sysusers >/dev/null; then
	mkdir -p "$T/root/etc"
	if out=$(systemd-sysusers --root="$T/root" "$UNITS/canaryd.sysusers" 2>&1) &&
		grep -q '^canaryd:' "$T/root/etc/passwd" && grep -q '^canaryd:' "$T/root/etc/group"; then
		ok "canaryd.sysusers creates user and group canaryd"
	else
		fail "systemd-sysusers: $out"
	fi
	if [ -f "$UNITS/canaryd.tmpfiles" ] && [ "$(id -u)" = 0 ] &&
		command -v systemd-tmpfiles >/dev/null; then
		if out=$(systemd-tmpfiles --root="$T/root" --create "$UNITS/canaryd.tmpfiles" 2>&1) &&
			[ "$(stat -c %a "$T/root/etc/canaryd/credentials")" = 700 ]; then
			ok "canaryd.tmpfiles creates /etc/canaryd/credentials 0700"
		else
			fail "systemd-tmpfiles: $out"
		fi
	fi
fi

# ---------------------------------------------------------------- 3. the contract at run time
if [ ! -x "$CANARYD" ] || [ ! -x "$CANARYCTL" ]; then
	echo "note: no build in $BUILD; run-time checks skipped"
elif ! command -v systemd-socket-activate >/dev/null || ! command -v python3 >/dev/null; then
	echo "note: systemd-socket-activate or python3 missing; run-time checks skipped"
else
	export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
	mkdir -p "$T/creds"
	printf 'ddapi\n' >"$T/creds/datadog-api-key"
	printf 'ddapp\n' >"$T/creds/datadog-app-key"
	printf '\n' >"$T/creds/slack-webhook" # the unit's SetCredential= fallback: unused, harmless
	# The kubeconfig only as a credential: found there through the relative name "kubeconfig".
	cat >"$T/creds/kubeconfig" <<-'EOF'
		apiVersion: v1
		kind: Config
		clusters: [{name: c, cluster: {server: "http://127.0.0.1:9"}}]
		users: [{name: u, user: {token: not-a-real-token}}]
		contexts: [{name: x, context: {cluster: c, user: u}}]
		current-context: x
	EOF
	cat >"$T/canaryd.yaml" <<-EOF
		datadog:
		  url: http://127.0.0.1:9
		  api_key_file: datadog-api-key
		  app_key_file: datadog-app-key
		kubernetes:
		  kubeconfig: kubeconfig
		control:
		  socket: $T/not-used.sock
	EOF
	cp "$T/canaryd.yaml" "$T/good.yaml"
	cat >"$T/notify.py" <<-'EOF'
		import socket, sys
		s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
		s.bind(sys.argv[1])
		with open(sys.argv[2], "a", buffering=1) as out:
		    while True:
		        out.write(s.recv(65536).decode(errors="replace").replace("\n", " ") + "\n")
	EOF
	python3 "$T/notify.py" "$T/notify.sock" "$T/notify.log" &
	PIDS+=($!)
	for _ in $(seq 50); do [ -S "$T/notify.sock" ] && break; sleep 0.05; done

	wait_for() { # FILE REGEX: up to 5 s
		for _ in $(seq 100); do
			grep -Eq -- "$2" "$1" 2>/dev/null && return 0
			sleep 0.05
		done
		return 1
	}
	ctl() { "$CANARYCTL" --socket "$T/control.sock" "$@"; }

	# As systemd would start it: socket passed in, credentials, notify socket, watchdog.
	# the HTTP endpoint's port passed too (a ListenStream= added to canaryd.socket)
	HPORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	systemd-socket-activate -l "$T/control.sock" -l "127.0.0.1:$HPORT" \
		-E CREDENTIALS_DIRECTORY="$T/creds" -E NOTIFY_SOCKET="$T/notify.sock" \
		-E WATCHDOG_USEC=400000 -E ASAN_OPTIONS \
		"$CANARYD" --config "$T/canaryd.yaml" 2>"$T/daemon.log" &
	DPID=$!
	PIDS+=("$DPID")
	for _ in $(seq 100); do [ -S "$T/control.sock" ] && break; sleep 0.05; done

	# The first connection starts the daemon (like canaryd.socket) and is answered.
	if status=$(ctl status -o json --compact) && [ "$status" = '{"canaries":[]}' ]; then
		ok "socket activation: canaryctl answered through the inherited socket"
	else
		fail "canaryctl status through the activated socket: '${status:-}'"
	fi
	[ -e "$T/not-used.sock" ] && fail "daemon bound control.socket despite socket activation"
	if command -v curl >/dev/null; then
		hz=$(curl -s --max-time 5 "http://127.0.0.1:$HPORT/healthz" || true)
		[ "$hz" = ok ] && ok "socket activation: /healthz served on the passed TCP socket" ||
			fail "/healthz on the passed TCP socket: '$hz'"
	fi
	wait_for "$T/notify.log" '^READY=1' && ok "sd_notify READY=1" || fail "no READY=1"
	wait_for "$T/notify.log" '^STATUS=0 canaries' && ok "sd_notify STATUS=" || fail "no STATUS="
	wait_for "$T/notify.log" '^WATCHDOG=1' && ok "sd_notify WATCHDOG=1" || fail "no WATCHDOG=1"

	kill -HUP "$DPID"
	if wait_for "$T/daemon.log" 'configuration reloaded' &&
		wait_for "$T/notify.log" '^RELOADING=1'; then
		ok "SIGHUP reloads (RELOADING=1)"
	else
		fail "SIGHUP did not reload"
	fi
	echo 'datadog: [' >"$T/canaryd.yaml"
	kill -HUP "$DPID"
	wait_for "$T/daemon.log" 'reload refused' && ok "SIGHUP with a bad file: refused" ||
		fail "bad config on SIGHUP not refused"
	ctl status >/dev/null && ok "still serving after a refused reload" ||
		fail "daemon not serving after a refused reload"
	cp "$T/good.yaml" "$T/canaryd.yaml"

	start=$(date +%s)
	kill -TERM "$DPID"
	if wait "$DPID"; then rc=0; else rc=$?; fi
	elapsed=$(($(date +%s) - start))
	[ $rc = 0 ] && ok "SIGTERM: exit 0 in ${elapsed}s" || fail "SIGTERM: exit status $rc"
	[ "$elapsed" -le 10 ] || fail "SIGTERM: took ${elapsed}s (> 10 s)"
	wait_for "$T/notify.log" '^STOPPING=1' && ok "sd_notify STOPPING=1" || fail "no STOPPING=1"
	[ -S "$T/control.sock" ] && ok "inherited socket path left in place" ||
		fail "daemon unlinked the inherited socket (canaryd.socket would be left deaf)"
	if grep -Eq 'ddapi|ddapp|not-a-real-token' "$T/daemon.log"; then
		fail "a secret appears in the daemon's log"
	fi
	if [ $failures != 0 ]; then
		echo "--- canaryd log ---" >&2
		cat "$T/daemon.log" >&2
	fi
fi

if [ $failures != 0 ]; then
	echo "$failures check(s) failed" >&2
	exit 1
fi
echo "all systemd unit checks passed"
