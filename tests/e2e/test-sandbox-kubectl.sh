#!/usr/bin/env bash
# test-sandbox-kubectl.sh: stock kubectl works against the sandbox's Kubernetes API: discovery,
# table output, `get -o yaml/json`, `edit` (non-interactive editor), `patch`, Deployments.
set -euo pipefail

if ! command -v kubectl >/dev/null 2>&1; then
        echo "SKIP: kubectl not installed"
        exit 0
fi

SRC=${CANARYD_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
TMP=$(mktemp -d)
PID=
cleanup() {
        if [[ -n $PID ]] && kill -0 "$PID" 2>/dev/null; then
                kill "$PID" 2>/dev/null || true
                wait "$PID" 2>/dev/null || true
        fi
        rm -rf "$TMP"
}
trap cleanup EXIT

PASSED=0
fail() {
        echo "FAIL: $*" >&2
        [[ -f $TMP/log ]] && tail -5 "$TMP/log" >&2
        echo "$PASSED passed, 1 failed" >&2
        exit 1
}
ok() {
        PASSED=$((PASSED + 1))
        echo "ok - $*"
}

python3 "$SRC/tests/sandbox/sandbox.py" --scenario "$SRC/tests/sandbox/scenarios/demo.json" \
        --port-file "$TMP/ports" --log "$TMP/log" &
PID=$!
for _ in $(seq 100); do
        [[ -s $TMP/ports ]] && break
        kill -0 "$PID" 2>/dev/null || fail "sandbox exited at start"
        sleep 0.05
done
[[ -s $TMP/ports ]] || fail "no port file"
port() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$TMP/ports" "$1"; }
KPORT=$(port kube)
ADMIN=http://127.0.0.1:$(port admin)

cat >"$TMP/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: sandbox
  cluster:
    server: http://127.0.0.1:$KPORT
users:
- name: canaryd
  user:
    token: sandbox-token
contexts:
- name: sandbox
  context:
    cluster: sandbox
    user: canaryd
    namespace: shop
current-context: sandbox
EOF
K=(kubectl --kubeconfig "$TMP/kubeconfig" --cache-dir "$TMP/cache" --request-timeout 10s)
# The sandbox serves OpenAPI v3 only. kubectl before 1.27 (Debian 12 ships 1.20) validates edits
# against protobuf OpenAPI v2, so those clients edit with --validate=false (WIRE.md §2.8).
minor=$(kubectl version --client -o json 2>/dev/null |
        python3 -c 'import json,sys; print(int("".join(c for c in json.load(sys.stdin)["clientVersion"]["minor"] if c.isdigit())))' 2>/dev/null || echo 99)
EDIT_FLAGS=()
[ "$minor" -lt 27 ] && EDIT_FLAGS=(--validate=false)

# get (table output)
"${K[@]}" get virtualservice -n shop >"$TMP/get.txt" 2>"$TMP/get.err" || fail "kubectl get: $(cat "$TMP/get.err")"
head -1 "$TMP/get.txt" | grep -qE '^NAME +GATEWAYS +HOSTS +AGE$' || fail "table header: $(cat "$TMP/get.txt")"
grep -qE '^checkout +\["mesh","shop/public-gateway"\] +\["checkout","checkout.shop.example.com"\] +[0-9]+s$' \
        "$TMP/get.txt" || fail "checkout row: $(cat "$TMP/get.txt")"
grep -qE '^search ' "$TMP/get.txt" || fail "search row missing: $(cat "$TMP/get.txt")"
[[ $(wc -l <"$TMP/get.txt") -eq 4 ]] || fail "expected 3 rows: $(cat "$TMP/get.txt")"
ok "kubectl get virtualservice (table)"

# get -o yaml / -o json, short name, other API versions
"${K[@]}" get vs search -o yaml >"$TMP/search.yaml" 2>"$TMP/err" || fail "get -o yaml: $(cat "$TMP/err")"
grep -qx 'apiVersion: networking.istio.io/v1' "$TMP/search.yaml" || fail "yaml apiVersion: $(head -3 "$TMP/search.yaml")"
grep -qx 'kind: VirtualService' "$TMP/search.yaml" || fail "yaml kind"
[[ $(grep -c '      weight: 100$' "$TMP/search.yaml") == 1 && $(grep -c '      weight: 0$' "$TMP/search.yaml") == 1 ]] ||
        fail "yaml weights: $(grep weight "$TMP/search.yaml")"
"${K[@]}" get virtualservices.v1beta1.networking.istio.io search -o json >"$TMP/search.json" 2>"$TMP/err" ||
        fail "get v1beta1 -o json: $(cat "$TMP/err")"
python3 - "$TMP/search.json" <<'EOF' || fail "v1beta1 json: $(head -c 300 "$TMP/search.json")"
import json, sys
o = json.load(open(sys.argv[1]))
assert o["apiVersion"] == "networking.istio.io/v1beta1" and o["metadata"]["name"] == "search"
EOF
"${K[@]}" get deployments >"$TMP/deploy.txt" 2>"$TMP/err" || fail "get deployments: $(cat "$TMP/err")"
grep -qE '^search-canary +2/2 +2 +2 ' "$TMP/deploy.txt" || fail "deployments: $(cat "$TMP/deploy.txt")"
ok "kubectl get -o yaml, -o json (v1beta1), get deployments"

# edit with a non-interactive editor: canary 20%, stable 80%
RV0=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["metadata"]["resourceVersion"])' "$TMP/search.json")
KUBE_EDITOR="sed -i -e 's/weight: 100\$/weight: 80/' -e 's/weight: 0\$/weight: 20/'" \
        "${K[@]}" edit "${EDIT_FLAGS[@]}" vs search >"$TMP/edit.out" 2>&1 || fail "kubectl edit: $(cat "$TMP/edit.out")"
grep -q 'virtualservice.networking.istio.io/search edited' "$TMP/edit.out" || fail "edit output: $(cat "$TMP/edit.out")"
curl -sS -f "$ADMIN/kube/object?ns=shop&name=search" >"$TMP/after.json"
python3 - "$TMP/search.json" "$TMP/after.json" "$RV0" <<'EOF' || fail "after edit: $(cat "$TMP/after.json")"
import json, sys
before, after = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
route = after["spec"]["http"][1]["route"]
assert [(d["destination"]["subset"], d["weight"]) for d in route] == [("stable", 80), ("canary", 20)], route
assert after["metadata"]["generation"] == 2 and after["metadata"]["resourceVersion"] != sys.argv[3]
for d in route:
    d["weight"] = 100 if d["destination"]["subset"] == "stable" else 0
assert after["spec"] == before["spec"], "fields other than the weights changed"
EOF
curl -sS -f "$ADMIN/kube/writes" >"$TMP/writes.json"
python3 - "$TMP/writes.json" <<'EOF' || fail "recorded writes: $(cat "$TMP/writes.json")"
import json, sys
w = json.load(open(sys.argv[1]))
assert len(w) == 1 and w[0]["method"] == "PATCH" and w[0]["name"] == "search"
assert w[0]["before"]["spec"]["http"][1]["route"][1]["weight"] == 0
assert w[0]["after"]["spec"]["http"][1]["route"][1]["weight"] == 20
EOF
ok "kubectl edit changes only the weights (recorded as a merge patch with before/after)"

# patch (merge) and a patch that Istio's validation rejects
"${K[@]}" patch vs checkout --type=merge -p '{"metadata":{"annotations":{"canaryd.io/state":"{}"}}}' \
        >"$TMP/patch.out" 2>&1 || fail "kubectl patch: $(cat "$TMP/patch.out")"
"${K[@]}" get vs checkout -o jsonpath='{.metadata.annotations.canaryd\.io/state}' >"$TMP/ann" 2>&1 || fail "jsonpath"
[[ $(cat "$TMP/ann") == '{}' ]] || fail "annotation: $(cat "$TMP/ann")"
if "${K[@]}" patch vs checkout --type=json \
        -p '[{"op":"replace","path":"/spec/http/1/route/0/weight","value":0}]' >"$TMP/deny.out" 2>&1; then
        fail "zero total weight was accepted"
fi
grep -q 'admission webhook "validation.istio.io" denied the request: configuration is invalid: total destination weight = 0' \
        "$TMP/deny.out" || fail "denial message: $(cat "$TMP/deny.out")"
if "${K[@]}" get vs nosuch >"$TMP/nf.out" 2>&1; then fail "get nosuch succeeded"; fi
grep -q 'virtualservices.networking.istio.io "nosuch" not found' "$TMP/nf.out" || fail "not found: $(cat "$TMP/nf.out")"
ok "kubectl patch (merge, json), webhook denial and NotFound as kubectl shows them"

echo "$PASSED passed, 0 failed"
