# HA helpers for tests/e2e/test-ha-*.sh (sourced after lib.sh and e2e_setup): several daemons on
# one sandbox, daemon I with its own control socket $E2E/controlI.sock, config
# $E2E/canarydI.yaml and log $E2E/canarydI.log. Set LEASE_S first (lease_duration in seconds).
#   ha_write_config I SHARDS [STATE]
#                        canarydI.yaml = canaryd.yaml + `ha:` (namespace $HA_NS, SHARDS shards),
#                        replaced atomically (a SIGHUP never reads half of it); STATE "own"
#                        gives the daemon its own state_dir $E2E/stateI
#   ha_start I           starts daemon I on canarydI.yaml, its PID in PIDS[I]
#   ctl_i I ARGS...      canaryctl on daemon I's socket
#   ha_identity I        daemon I's HA identity, from its log (empty before HA started)
#   ha_leases            one line per Lease: "<name> <holder or -> <canaryd.io/shards or ->"
#   ha_shard_of NS NAME SHARDS
#                        the shard of canary NS/NAME: FNV-1a("NS/NAME") % SHARDS, as ha.c
#                        computes it
# Daemons still running at exit get SIGTERM and are waited for, before e2e_cleanup.
HA_NS=canaryd-system
declare -a PIDS

ha_write_config() {
	local edits=(-e "s|socket: $E2E/control.sock|socket: $E2E/control$1.sock|")
	if [ "${3:-}" = own ]; then
		mkdir -p "$E2E/state$1"
		edits+=(-e "s|state_dir: $E2E/state\$|state_dir: $E2E/state$1|")
	fi
	sed "${edits[@]}" "$E2E/canaryd.yaml" >"$E2E/canaryd$1.yaml.new"
	cat >>"$E2E/canaryd$1.yaml.new" <<-EOF
	ha:
	  namespace: $HA_NS
	  shards: $2
	  lease_duration: ${LEASE_S}s
	EOF
	mv "$E2E/canaryd$1.yaml.new" "$E2E/canaryd$1.yaml"
}
ha_start() {
	CREDENTIALS_DIRECTORY=$E2E/creds "$CANARYD" --config "$E2E/canaryd$1.yaml" \
		>>"$E2E/canaryd$1.log" 2>&1 &
	PIDS[$1]=$!
}
ha_cleanup_daemons() {
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap 'ha_cleanup_daemons; e2e_cleanup' EXIT
ctl_i() { local i=$1; shift; "$CANARYCTL" --socket "$E2E/control$i.sock" "$@"; }
ha_identity() { sed -n 's/.*ha: identity \([^,]*\),.*/\1/p' "$E2E/canaryd$1.log" | tail -n1; }
ha_leases() {
	admin GET "/kube/objects?resource=leases&ns=$HA_NS" | python3 -c "
import json, sys
for o in json.load(sys.stdin):
    a = o['metadata'].get('annotations') or {}
    print(o['metadata']['name'], o['spec'].get('holderIdentity') or '-', a.get('canaryd.io/shards', '-'))"
}
ha_shard_of() {
	python3 -c "
x = 2166136261
for b in ('$1/$2').encode():
    x = ((x ^ b) * 16777619) & 0xffffffff
print(x % $3)"
}
