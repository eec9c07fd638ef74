#!/usr/bin/env bash
# test-sandbox-wire.sh: checks the sandbox (tests/sandbox/sandbox.py) against the wire contracts of
# WIRE.md with curl: Datadog, Kubernetes/Istio, Slack, fault injection and request recording.
set -euo pipefail

SRC=${CANARYD_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
SANDBOX=$SRC/tests/sandbox/sandbox.py
SCENARIO=$SRC/tests/sandbox/scenarios/demo.json
FIXTURES=${CANARYD_FIXTURES:-$SRC/tests/data/fixtures}
[[ -f $FIXTURES/datadog_v1_query_403_forbidden.http ]] || FIXTURES=$SRC/../shared/fixtures

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
FAILED=0
fail() {
        echo "FAIL: $*" >&2
        FAILED=$((FAILED + 1))
        if [[ -f $TMP/log ]]; then tail -5 "$TMP/log" >&2; fi
        echo "0 passed, 1 failed" >&2
        exit 1
}
ok() {
        PASSED=$((PASSED + 1))
        echo "ok - $*"
}

# req NAME METHOD URL [curl args...]: body in $TMP/NAME.body, headers in $TMP/NAME.hdr;
# prints the HTTP status.
req() {
        local name=$1 method=$2 url=$3
        shift 3
        curl -sS -X "$method" -o "$TMP/$name.body" -D "$TMP/$name.hdr" -w '%{http_code}' \
                --max-time 10 "$@" "$url"
}
expect_status() { # NAME GOT WANT
        [[ $2 == "$3" ]] || fail "$1: status $2, want $3; body: $(head -c 400 "$TMP/$1.body")"
}
# expect_json NAME PY-EXPR: d is the decoded body, h the headers (lower-case names).
expect_json() {
        python3 - "$TMP/$1.body" "$TMP/$1.hdr" "$2" <<'EOF' || fail "$1: assertion failed: $2; body: $(head -c 600 "$TMP/$1.body")"
import json, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
h = {}
for line in open(sys.argv[2], encoding="utf-8"):
    if ":" in line:
        k, v = line.split(":", 1)
        h[k.strip().lower()] = v.strip()
sys.exit(0 if eval(sys.argv[3]) else 1)
EOF
}
expect_body() { # NAME EXACT-BODY (printf-style escapes are not interpreted)
        local want=$2
        [[ "$(cat "$TMP/$1.body"; echo x)" == "${want}x" ]] ||
                fail "$1: body mismatch:
got:  $(cat "$TMP/$1.body")
want: $want"
}
expect_header() { # NAME HEADER REGEX
        grep -qiE "^$2: $3"$'\r'"?$" "$TMP/$1.hdr" || fail "$1: header $2 !~ $3: $(cat "$TMP/$1.hdr")"
}
admin() { # METHOD PATH [BODY]
        if [[ $# -ge 3 ]]; then
                curl -sS -f -X "$1" --max-time 10 -H 'Content-Type: application/json' \
                        --data-binary "$3" "$ADMIN$2"
        else
                curl -sS -f -X "$1" --max-time 10 "$ADMIN$2"
        fi
}

# ---- start -----------------------------------------------------------------------------------
# The demo scenario with its point spacing pinned to 10 s (the demo may tune it).
python3 - "$SCENARIO" "$TMP/base.json" <<'EOF'
import json, sys
sc = json.load(open(sys.argv[1]))
sc["datadog"]["step_seconds"] = 10
json.dump(sc, open(sys.argv[2], "w"))
EOF
python3 "$SANDBOX" --scenario "$TMP/base.json" --port-file "$TMP/ports" --log "$TMP/log" &
PID=$!
for _ in $(seq 100); do
        [[ -s $TMP/ports ]] && break
        kill -0 "$PID" 2>/dev/null || fail "sandbox exited at start"
        sleep 0.05
done
[[ -s $TMP/ports ]] || fail "no port file"
port() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$TMP/ports" "$1"; }
DD=http://127.0.0.1:$(port datadog)
KUBE=http://127.0.0.1:$(port kube)
SLACK=http://127.0.0.1:$(port slack)
ADMIN=http://127.0.0.1:$(port admin)
ok "sandbox started, ports $(cat "$TMP/ports")"

DDKEYS=(-H 'DD-API-KEY: sandbox-api-key' -H 'dd-application-key: sandbox-app-key')
NOW=$(date +%s)
FROM=$((NOW - 300))
Q_CANARY='avg:trace.http.request.duration{service:search,kube_deployment:search-canary}.rollup(avg, 10)'
Q_BASE='avg:trace.http.request.duration{service:search,kube_deployment:search-stable}.rollup(avg, 10)'

# ---- Datadog -----------------------------------------------------------------------------------
s=$(req dd1 GET "$DD/api/v1/query" -G "${DDKEYS[@]}" --data-urlencode "from=$FROM" \
        --data-urlencode "to=$NOW" --data-urlencode "query=$Q_CANARY")
expect_status dd1 "$s" 200
expect_header dd1 Content-Type 'application/json'
expect_json dd1 "set(d) == {'status','res_type','resp_version','series','from_date','to_date','query','message','group_by','times','values'}"
expect_json dd1 "d['status']=='ok' and d['res_type']=='time_series' and d['from_date']==$FROM*1000 and d['to_date']==$NOW*1000 and d['query']=='''$Q_CANARY''' and d['message']=='' and d['group_by']==[]"
expect_json dd1 "len(d['series'])==1 and set(d['series'][0])=={'metric','display_name','expression','scope','tag_set','aggr','query_index','start','end','interval','length','pointlist','unit','attributes'}"
expect_json dd1 "(lambda s: s['metric']=='trace.http.request.duration' and s['aggr']=='avg' and s['query_index']==0 and s['unit'] is None and s['attributes']=={} and s['length']==len(s['pointlist']) in (30, 31) and s['interval']==10 and s['tag_set']==[])(d['series'][0])"
expect_json dd1 "all(isinstance(p[0], float) and $FROM*1000 <= p[0] <= $NOW*1000 and p[0] % 10000 == 0 and 0.04 < p[1] < 0.12 for p in d['series'][0]['pointlist'])"
expect_json dd1 "d['series'][0]['start']==d['series'][0]['pointlist'][0][0] and d['series'][0]['end']==d['series'][0]['pointlist'][-1][0]+9000"
expect_header dd1 X-RateLimit-Limit 1600
expect_header dd1 X-RateLimit-Period 3600
expect_header dd1 X-RateLimit-Reset '[0-9]+'
rem1=$(grep -i '^X-RateLimit-Remaining:' "$TMP/dd1.hdr" | tr -dc 0-9)
s=$(req dd2 GET "$DD/api/v1/query" -G "${DDKEYS[@]}" --data-urlencode "from=$FROM" \
        --data-urlencode "to=$NOW" --data-urlencode "query=$Q_CANARY")
expect_status dd2 "$s" 200
cmp -s "$TMP/dd1.body" "$TMP/dd2.body" || fail "same window gave different values"
rem2=$(grep -i '^X-RateLimit-Remaining:' "$TMP/dd2.hdr" | tr -dc 0-9)
[[ $rem2 -eq $((rem1 - 1)) ]] || fail "X-RateLimit-Remaining did not decrement ($rem1 -> $rem2)"
ok "datadog: 200 shape, deterministic values, rate-limit headers decrement"

s=$(req dd3 GET "$DD/api/v1/query" -G "${DDKEYS[@]}" --data-urlencode "from=$FROM" \
        --data-urlencode "to=$((NOW + 3600))" \
        --data-urlencode "query=trace.http.request.errors{kube_deployment:checkout-stable},$Q_BASE,nosuch.metric{*}")
ANSWERED=$(date +%s) # "no future point" is relative to when the sandbox answered, not to $NOW
expect_status dd3 "$s" 200
expect_json dd3 "[s['query_index'] for s in d['series']]==[0,1] and d['series'][0]['aggr'] is None and d['series'][1]['aggr']=='avg' and d['series'][0]['scope']=='kube_deployment:checkout-stable'"
expect_json dd3 "max(p[0] for s in d['series'] for p in s['pointlist']) <= ($ANSWERED+1)*1000 and all(0 <= p[1] < 0.01 for p in d['series'][0]['pointlist'])"
ok "datadog: comma-separated queries, aggr null, no future points, unknown metric has no series"

s=$(req dd403 GET "$DD/api/v1/query?from=0&query=somequery&to=0")
expect_status dd403 "$s" 403
sed -n '/^{/,$p' "$FIXTURES/datadog_v1_query_403_forbidden.http" >"$TMP/want403"
cmp -s "$TMP/want403" "$TMP/dd403.body" || fail "403 body differs from the recording"
expect_header dd403 Content-Length 170
s=$(req dd403b GET "$DD/api/v1/query?from=0&query=x%7B%2A%7D&to=1" -H 'DD-API-KEY: sandbox-api-key' \
        -H 'DD-APPLICATION-KEY: wrong')
expect_status dd403b "$s" 403
s=$(req dd400 GET "$DD/api/v1/query?to=10&query=a%7B%2A%7D" "${DDKEYS[@]}")
expect_status dd400 "$s" 400
expect_json dd400 "list(d)==['errors'] and 'from' in d['errors'][0]"
s=$(req dd400b GET "$DD/api/v1/query?from=1&to=10&query=avg%3Anot%20a%20query" "${DDKEYS[@]}")
expect_status dd400b "$s" 400
expect_json dd400b "d['errors'][0].startswith('Error(s) found in query:')"
s=$(req val GET "$DD/api/v1/validate" -H 'DD-API-KEY: sandbox-api-key')
expect_status val "$s" 200
expect_body val '{"valid":true}'
s=$(req val403 GET "$DD/api/v1/validate")
expect_status val403 "$s" 403
expect_body val403 '{"errors":["API key required"]}'
ok "datadog: 403 recorded body, 400 errors, validate"

V2="{\"data\":{\"type\":\"timeseries_request\",\"attributes\":{\"from\":${FROM}000,\"to\":${NOW}000,\"queries\":[{\"data_source\":\"metrics\",\"name\":\"a\",\"query\":\"avg:trace.http.request.duration{kube_deployment:checkout-canary}\"}]}}}"
s=$(req v2 POST "$DD/api/v2/query/timeseries" "${DDKEYS[@]}" -H 'Content-Type: application/json' --data-binary "$V2")
expect_status v2 "$s" 200
expect_header v2 Content-Type 'application/vnd.api\+json'
expect_json v2 "(lambda a: a['series']==[{'group_tags':[],'query_index':0,'unit':None}] and len(a['values'][0])==len(a['times'])==30)(d['data']['attributes'])"
s=$(req v2bad POST "$DD/api/v2/query/timeseries" "${DDKEYS[@]}" -H 'Content-Type: application/json' \
        --data-binary "${V2/timeseries_request/timeseries_rquest}")
expect_status v2bad "$s" 400
expect_body v2bad "$(cat "$FIXTURES/datadog_v2_timeseries_400_bad_type.response.json")"
ok "datadog: v2 timeseries 200 and bad-type 400"

# A scenario with 1 s steps and a limit of 5 queries per hour, for the rate limit and regressions.
python3 - "$SCENARIO" "$TMP/fast.json" <<'EOF'
import json, sys
sc = json.load(open(sys.argv[1]))
sc["datadog"]["step_seconds"] = 1
sc["datadog"]["rate_limit"] = {"limit": 5, "period": 3600}
sc["slack"]["rate_limit"] = {"per_second": 0.05, "burst": 3}  # so bursts hit 429 however slow we are
json.dump(sc, open(sys.argv[2], "w"))
EOF
admin POST /scenario "{\"path\":\"$TMP/fast.json\"}" >/dev/null
mean() { # QUERY FROM TO
        curl -sS -f -G "${DDKEYS[@]}" "$DD/api/v1/query" --data-urlencode "from=$2" --data-urlencode "to=$3" \
                --data-urlencode "query=$1" |
                python3 -c 'import json,sys; p=json.load(sys.stdin)["series"][0]["pointlist"]; print(sum(v for _,v in p)/len(p))'
}
T0=$(date +%s)
r=$(python3 -c "print($(mean "$Q_CANARY" $((T0 - 20)) "$T0") / $(mean "$Q_BASE" $((T0 - 20)) "$T0"))")
python3 -c "import sys; sys.exit(0 if 0.9 < $r < 1.1 else 1)" || fail "search canary/baseline before regression = $r"
s=$(req w20 PATCH "$KUBE/apis/networking.istio.io/v1/namespaces/shop/virtualservices/search" \
        -H 'Content-Type: application/json-patch+json' \
        --data-binary '[{"op":"replace","path":"/spec/http/1/route/0/weight","value":80},{"op":"replace","path":"/spec/http/1/route/1/weight","value":20}]')
expect_status w20 "$s" 200
T1=$(date +%s)
sleep 2.2
T2=$(date +%s)
r=$(python3 -c "print($(mean "$Q_CANARY" $((T1 + 1)) "$T2") / $(mean "$Q_BASE" $((T1 + 1)) "$T2"))")
python3 -c "import sys; sys.exit(0 if 1.3 < $r < 1.95 else 1)" || fail "search canary/baseline at weight 20 = $r, want ~1.6"
ok "datadog: search canary latency regresses x1.6 once its weight >= 20 (ratio $r)"
s=$(req rl GET "$DD/api/v1/query?from=1&to=2&query=a%7B%2A%7D" "${DDKEYS[@]}")
expect_status rl "$s" 200
s=$(req rl GET "$DD/api/v1/query?from=1&to=2&query=a%7B%2A%7D" "${DDKEYS[@]}")
expect_status rl "$s" 429
expect_json rl "d=={'errors':['Rate limit of 5 requests in 3600 seconds reached. Please try again later.']}"
expect_header rl X-RateLimit-Remaining 0
ok "datadog: 429 once the rate limit is exhausted"
admin POST /scenario "{\"path\":\"$TMP/base.json\"}" >/dev/null

# ---- Kubernetes --------------------------------------------------------------------------------
VS=$KUBE/apis/networking.istio.io/v1/namespaces/shop/virtualservices
for v in v1 v1beta1 v1alpha3; do
        s=$(req get$v GET "$KUBE/apis/networking.istio.io/$v/namespaces/shop/virtualservices/checkout")
        expect_status get$v "$s" 200
        expect_json get$v "d['apiVersion']=='networking.istio.io/$v' and d['kind']=='VirtualService' and d['metadata']['generation']==1 and isinstance(d['metadata']['resourceVersion'], str)"
done
s=$(req list GET "$VS")
expect_status list "$s" 200
expect_json list "d['kind']=='VirtualServiceList' and [i['metadata']['name'] for i in d['items']]==['checkout','payments','search']"
ok "kube: GET in three versions, LIST"

python3 - "$TMP/getv1.body" "$TMP" <<'EOF'
import json, sys
o = json.load(open(sys.argv[1]))
tmp = sys.argv[2]
rv = o["metadata"]["resourceVersion"]
norv = json.loads(json.dumps(o)); del norv["metadata"]["resourceVersion"]
json.dump(norv, open(tmp + "/put-norv.json", "w"))
stale = json.loads(json.dumps(o)); stale["metadata"]["resourceVersion"] = str(int(rv) - 1)
json.dump(stale, open(tmp + "/put-stale.json", "w"))
good = json.loads(json.dumps(o))
for d in good["spec"]["http"][1]["route"]:
    d["weight"] = 90 if d["destination"]["subset"] == "stable" else 10
json.dump(good, open(tmp + "/put-good.json", "w"))
json.dump(o, open(tmp + "/put-same.json", "w"))
bad = json.loads(json.dumps(good))
for d in bad["spec"]["http"][1]["route"]:
    d["weight"] = 0
json.dump(bad, open(tmp + "/put-zero.json", "w"))
EOF
J=(-H 'Content-Type: application/json')
s=$(req p422 PUT "$VS/checkout" "${J[@]}" --data-binary @"$TMP/put-norv.json")
expect_status p422 "$s" 422
expect_body p422 '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"virtualservices.networking.istio.io \"checkout\" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update","reason":"Invalid","details":{"name":"checkout","group":"networking.istio.io","kind":"virtualservices","causes":[{"reason":"FieldValueInvalid","message":"Invalid value: 0x0: must be specified for an update","field":"metadata.resourceVersion"}]},"code":422}
'
s=$(req p409 PUT "$VS/checkout" "${J[@]}" --data-binary @"$TMP/put-stale.json")
expect_status p409 "$s" 409
expect_body p409 '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Operation cannot be fulfilled on virtualservices.networking.istio.io \"checkout\": the object has been modified; please apply your changes to the latest version and try again","reason":"Conflict","details":{"name":"checkout","group":"networking.istio.io","kind":"virtualservices"},"code":409}
'
expect_header p409 Content-Length "$(wc -c <"$TMP/p409.body" | tr -d ' ')"
s=$(req pzero PUT "$VS/checkout" "${J[@]}" --data-binary @"$TMP/put-zero.json")
expect_status pzero "$s" 400
expect_json pzero "d['message']=='admission webhook \"validation.istio.io\" denied the request: configuration is invalid: total destination weight = 0' and 'reason' not in d and d['code']==400"
s=$(req psame PUT "$VS/checkout" "${J[@]}" --data-binary @"$TMP/put-same.json")
expect_status psame "$s" 200
cmp -s "$TMP/psame.body" <(curl -sS "$VS/checkout") || fail "no-op PUT changed the object"
expect_json psame "d['metadata']['resourceVersion']=='$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["metadata"]["resourceVersion"])' "$TMP/getv1.body")'"
s=$(req pgood PUT "$VS/checkout" "${J[@]}" --data-binary @"$TMP/put-good.json")
expect_status pgood "$s" 200
expect_json pgood "d['metadata']['generation']==2 and [r['weight'] for r in d['spec']['http'][1]['route']]==[90,10] and d['spec']['http'][0]['fault']['delay']['fixedDelay']=='100ms' and d['spec']['gateways']==['mesh','shop/public-gateway'] and d['spec']['http'][1]['retries']['attempts']==3"
ok "kube: PUT 422 without RV, 409 stale RV (exact bodies), 400 webhook denial, no-op PUT, PUT ok"

RV=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["metadata"]["resourceVersion"])' "$TMP/pgood.body")
s=$(req merge PATCH "$VS/checkout" -H 'Content-Type: application/merge-patch+json' \
        --data-binary '{"metadata":{"annotations":{"canaryd.io/state":"{\"phase\":\"Progressing\"}"}}}')
expect_status merge "$s" 200
expect_json merge "d['metadata']['annotations']=={'owner':'team-shop','canaryd.io/state':'{\"phase\":\"Progressing\"}'} and d['metadata']['generation']==2 and d['metadata']['resourceVersion']!='$RV'"
s=$(req mergestale PATCH "$VS/checkout" -H 'Content-Type: application/merge-patch+json' \
        --data-binary "{\"metadata\":{\"resourceVersion\":\"$RV\"},\"spec\":{\"hosts\":[\"x\"]}}")
expect_status mergestale "$s" 409
s=$(req jptest PATCH "$VS/checkout" -H 'Content-Type: application/json-patch+json' \
        --data-binary "[{\"op\":\"test\",\"path\":\"/metadata/resourceVersion\",\"value\":\"$RV\"}]")
expect_status jptest "$s" 422
expect_json jptest "d['reason']=='Invalid' and d['code']==422"
s=$(req smp PATCH "$VS/checkout" -H 'Content-Type: application/strategic-merge-patch+json' --data-binary '{}')
expect_status smp "$s" 415
expect_body smp '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml","reason":"UnsupportedMediaType","code":415}
'
s=$(req nf GET "$VS/nosuch")
expect_status nf "$s" 404
expect_body nf '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"virtualservices.networking.istio.io \"nosuch\" not found","reason":"NotFound","details":{"name":"nosuch","group":"networking.istio.io","kind":"virtualservices"},"code":404}
'
s=$(req unauth GET "$VS/checkout" -H 'Authorization: Bearer wrong')
expect_status unauth "$s" 401
expect_body unauth '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}
'
s=$(req authok GET "$VS/checkout" -H 'Authorization: Bearer sandbox-token')
expect_status authok "$s" 200
ok "kube: merge patch, stale-RV patch 409, JSON Patch test 422, SMP 415, 404, 401 (exact bodies)"

# Forced conflict: the next PUT sees a concurrent modification.
admin POST /faults/conflict '{"ns":"shop","name":"checkout","count":1}' >/dev/null
curl -sS "$VS/checkout" >"$TMP/cur.json"
s=$(req fc1 PUT "$VS/checkout" "${J[@]}" --data-binary @"$TMP/cur.json")
expect_status fc1 "$s" 409
curl -sS "$VS/checkout" >"$TMP/cur.json"
python3 - "$TMP/cur.json" <<'EOF'
import json, sys
o = json.load(open(sys.argv[1])); o["metadata"].setdefault("labels", {})["x"] = "y"
json.dump(o, open(sys.argv[1], "w"))
EOF
s=$(req fc2 PUT "$VS/checkout" "${J[@]}" --data-binary @"$TMP/cur.json")
expect_status fc2 "$s" 200
admin POST /faults/conflict '{"ns":"shop","name":"checkout","count":1}' >/dev/null
s=$(req fc3 PATCH "$VS/checkout" -H 'Content-Type: application/merge-patch+json' \
        --data-binary '{"metadata":{"labels":{"z":"1"}}}')
expect_status fc3 "$s" 200
RV3=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["metadata"]["resourceVersion"])' "$TMP/fc3.body")
s=$(req fc4 PATCH "$VS/checkout" -H 'Content-Type: application/merge-patch+json' \
        --data-binary "{\"metadata\":{\"labels\":{\"z\":\"2\"},\"resourceVersion\":\"$RV3\"}}")
expect_status fc4 "$s" 409
curl -sS "$VS/checkout" >"$TMP/cur.json"
sed -i 's/"x":"y"/"x":"y2"/' "$TMP/cur.json"
s=$(req fc5 PUT "$VS/checkout" "${J[@]}" --data-binary @"$TMP/cur.json")
expect_status fc5 "$s" 200
expect_json fc5 "d['metadata']['labels']=={'app':'checkout','team':'shop','x':'y2','z':'1'}"
ok "kube: forced conflict: 409 once for a PUT or RV-carrying PATCH; RV-less PATCH unaffected"

# Watch from an old resourceVersion replays the modifications.
s=$(req watch GET "$VS?watch=true&resourceVersion=$RV&timeoutSeconds=1")
expect_status watch "$s" 200
python3 - "$TMP/watch.body" <<'EOF' || fail "watch stream: $(cat "$TMP/watch.body")"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert ev and all(e["type"] == "MODIFIED" and e["object"]["kind"] == "VirtualService" for e in ev), ev
assert ev[-1]["object"]["metadata"]["labels"]["x"] == "y2"
EOF
s=$(req w410 GET "$VS?watch=1&resourceVersion=5")
expect_status w410 "$s" 200
expect_json w410 "d['type']=='ERROR' and d['object']['code']==410 and d['object']['reason']=='Expired'"
ok "kube: watch replays MODIFIED events; expired RV gives an in-stream 410"

LEASES=$KUBE/apis/coordination.k8s.io/v1/namespaces/canaryd-system/leases
s=$(req lc POST "$LEASES" "${J[@]}" --data-binary '{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"canaryd-shard-0"},"spec":{"holderIdentity":"a","leaseDurationSeconds":15,"acquireTime":"2024-01-01T00:00:00.000000Z","renewTime":"2024-01-01T00:00:00.000000Z","leaseTransitions":0}}')
expect_status lc "$s" 201
s=$(req lc2 POST "$LEASES" "${J[@]}" --data-binary '{"metadata":{"name":"canaryd-shard-0"},"spec":{}}')
expect_status lc2 "$s" 409
expect_json lc2 "d['reason']=='AlreadyExists' and d['message']=='leases.coordination.k8s.io \"canaryd-shard-0\" already exists'"
s=$(req lg GET "$LEASES/canaryd-shard-0")
expect_status lg "$s" 200
sed 's/"holderIdentity":"a"/"holderIdentity":"b"/' "$TMP/lg.body" >"$TMP/lease.json"
s=$(req lp PUT "$LEASES/canaryd-shard-0" "${J[@]}" --data-binary @"$TMP/lease.json")
expect_status lp "$s" 200
expect_json lp "d['spec']['holderIdentity']=='b'"
s=$(req lp2 PUT "$LEASES/canaryd-shard-0" "${J[@]}" --data-binary @"$TMP/lease.json")
expect_status lp2 "$s" 409
expect_json lp2 "d['message'].startswith('Operation cannot be fulfilled on leases.coordination.k8s.io \"canaryd-shard-0\"')"
s=$(req lnf GET "$LEASES/nosuch")
expect_status lnf "$s" 404
ok "kube: Lease create/get/update, 409 on a racing update"

# Recording keeps before/after of every write; the admin bypass edit is visible.
s=$(req writes GET "$ADMIN/kube/writes")
expect_status writes "$s" 200
expect_json writes "any(w['method']=='PATCH' and w['name']=='checkout' and 'canaryd.io/state' in w['after']['metadata'].get('annotations',{}) and 'canaryd.io/state' not in w['before']['metadata'].get('annotations',{}) for w in d)"
curl -sS "$ADMIN/kube/object?ns=shop&name=search" >"$TMP/obj.json"
python3 - "$TMP/obj.json" <<'EOF'
import json, sys
o = json.load(open(sys.argv[1]))
o["spec"]["http"][1]["route"][0]["weight"], o["spec"]["http"][1]["route"][1]["weight"] = 70, 30
json.dump(o, open(sys.argv[1], "w"))
EOF
admin PUT "/kube/object?ns=shop&name=search" "$(cat "$TMP/obj.json")" >/dev/null
s=$(req drift GET "$VS/search")
expect_json drift "[r['weight'] for r in d['spec']['http'][1]['route']]==[70,30]"
s=$(req reqs GET "$ADMIN/requests?service=kube&method=PUT")
expect_json reqs "all(r['service']=='kube' and r['method']=='PUT' for r in d) and len(d)>=5 and all(d[i]['seq']<d[i+1]['seq'] for i in range(len(d)-1))"
ok "recording: kube writes with before/after, admin bypass edit, /requests filters"

# ---- Slack -------------------------------------------------------------------------------------
admin POST /scenario "{\"path\":\"$TMP/fast.json\"}" >/dev/null
HOOK=$SLACK/services/T000/B000/sandbox
s=$(req sok POST "$HOOK" "${J[@]}" --data-binary '{"text":"canary search progressed to 20%"}')
expect_status sok "$s" 200
expect_body sok ok
expect_header sok Content-Type 'text/plain.*'
s=$(req sbad POST "$HOOK" "${J[@]}" --data-binary '{"text":')
expect_status sbad "$s" 400
expect_body sbad invalid_payload
s=$(req snotext POST "$HOOK" "${J[@]}" --data-binary '{"username":"x"}')
expect_status snotext "$s" 400
expect_body snotext no_text
s=$(req s404 POST "$SLACK/services/T000/B000/nope" "${J[@]}" --data-binary '{"text":"x"}')
expect_status s404 "$s" 404
expect_body s404 no_service
got429=0
for i in 1 2 3 4 5; do
        s=$(req sburst POST "$HOOK" "${J[@]}" --data-binary "{\"text\":\"burst $i\"}")
        if [[ $s == 429 ]]; then
                got429=1
                expect_header sburst Retry-After '[1-9][0-9]*'
                break
        fi
        expect_status sburst "$s" 200
done
[[ $got429 == 1 ]] || fail "no 429 after a burst of webhook posts"
ok "slack webhook: ok, invalid_payload, no_text, no_service, 429 with Retry-After"

API=(-H 'Authorization: Bearer xoxb-sandbox-token' -H 'Content-Type: application/json; charset=utf-8')
s=$(req pm POST "$SLACK/api/chat.postMessage" "${API[@]}" --data-binary '{"channel":"#releases","text":"rollout started"}')
expect_status pm "$s" 200
expect_json pm "d['ok'] is True and d['channel']=='C0RELEASES1' and isinstance(d['ts'], str)"
TS=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ts"])' "$TMP/pm.body")
s=$(req pmt POST "$SLACK/api/chat.postMessage" "${API[@]}" --data-binary "{\"channel\":\"C0RELEASES1\",\"text\":\"step 2\",\"thread_ts\":\"$TS\"}")
expect_json pmt "d['ok'] is True and d['message']['thread_ts']=='$TS'"
s=$(req up POST "$SLACK/api/chat.update" "${API[@]}" --data-binary "{\"channel\":\"C0RELEASES1\",\"ts\":\"$TS\",\"text\":\"rollout at 20%\"}")
expect_json up "d['ok'] is True and d['ts']=='$TS' and d['text']=='rollout at 20%'"
s=$(req rep POST "$SLACK/api/conversations.replies" "${API[@]}" --data-binary "{\"channel\":\"C0RELEASES1\",\"ts\":\"$TS\"}")
expect_json rep "d['ok'] is True and [m['text'] for m in d['messages']]==['rollout at 20%','step 2']"
s=$(req badauth POST "$SLACK/api/chat.postMessage" -H 'Authorization: Bearer xoxb-wrong' "${J[@]}" --data-binary '{"channel":"#releases","text":"x"}')
expect_status badauth "$s" 200
expect_json badauth "d=={'ok':False,'error':'invalid_auth'}"
s=$(req nochan POST "$SLACK/api/chat.postMessage" "${API[@]}" --data-binary '{"channel":"#nope","text":"x"}')
expect_json nochan "d=={'ok':False,'error':'channel_not_found'}"
s=$(req pmrl POST "$SLACK/api/chat.postMessage" "${API[@]}" --data-binary '{"channel":"#releases","text":"3"}')
s=$(req pmrl POST "$SLACK/api/chat.postMessage" "${API[@]}" --data-binary '{"channel":"#releases","text":"4"}')
expect_status pmrl "$s" 429
expect_json pmrl "d=={'ok':False,'error':'ratelimited'}"
expect_header pmrl Retry-After '[1-9][0-9]*'
s=$(req msgs GET "$ADMIN/slack/messages")
expect_json msgs "[m['kind'] for m in d][:2]==['webhook','webhook'] and d[0]['payload']=={'text':'canary search progressed to 20%'} and [m['kind'] for m in d if m['kind']!='webhook'][:3]==['chat.postMessage','chat.postMessage','chat.update']"
ok "slack web API: postMessage, threads, update, replies, invalid_auth, channel_not_found, 429 ratelimited"

# ---- Faults ------------------------------------------------------------------------------------
admin POST /faults '{"service":"datadog","match":{"method":"GET","path_regex":"^/api/v1/query$"},"status":503,"body":"<html>upstream down</html>","headers":{"Content-Type":"text/html"},"count":1}' >/dev/null
s=$(req f1 GET "$DD/api/v1/query?from=1&to=2&query=a%7B%2A%7D" "${DDKEYS[@]}")
expect_status f1 "$s" 503
expect_body f1 '<html>upstream down</html>'
s=$(req f2 GET "$DD/api/v1/query?from=1&to=2&query=a%7B%2A%7D" "${DDKEYS[@]}")
expect_status f2 "$s" 200
admin POST /faults '{"service":"datadog","match":{},"status":429,"body":"","count":1,"headers":{"X-RateLimit-Reset":"7"}}' >/dev/null
s=$(req f3 GET "$DD/api/v1/query?from=1&to=2&query=a%7B%2A%7D" "${DDKEYS[@]}")
expect_status f3 "$s" 429
[[ ! -s $TMP/f3.body ]] || fail "fault 429 should have an empty body"
expect_header f3 X-RateLimit-Reset 7
admin POST /faults '{"service":"kube","match":{"method":"PUT"},"drop_connection":true,"count":1}' >/dev/null
rc=0
curl -sS -o /dev/null -X PUT --max-time 5 "$VS/checkout" -d '{}' 2>/dev/null || rc=$?
[[ $rc == 52 ]] || fail "drop_connection: curl exit $rc, want 52 (empty reply)"
admin POST /faults '{"service":"slack","match":{"path_regex":"^/services/"},"delay_ms":400,"count":1}' >/dev/null
t=$(curl -sS -o /dev/null -w '%{time_total}' -X POST "$SLACK/services/T000/B000/nope" -d '{}')
python3 -c "import sys; sys.exit(0 if $t >= 0.39 else 1)" || fail "delay_ms: took $t s"
admin POST /faults '{"service":"kube","status":500,"count":-1}' >/dev/null
s=$(req f5 GET "$VS/checkout")
expect_status f5 "$s" 500
admin DELETE /faults >/dev/null
s=$(req f6 GET "$VS/checkout")
expect_status f6 "$s" 200
s=$(req fr GET "$ADMIN/requests?service=datadog&path_regex=query")
expect_json fr "any(r.get('fault') and r['status']==503 for r in d)"
ok "faults: canned status/body/headers, count, empty 429, dropped connection, delay, clear"

s=$(req st GET "$ADMIN/state")
expect_json st "set(d['ports'])=={'datadog','kube','slack','pagerduty','admin'} and any(o['name']=='search' for o in d['kube']['objects'])"
ok "admin: state"

# ---- clean stop --------------------------------------------------------------------------------
kill -TERM "$PID"
rc=0
for _ in $(seq 50); do
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.1
done
kill -0 "$PID" 2>/dev/null && fail "sandbox did not stop within 5 s of SIGTERM"
wait "$PID" || rc=$?
PID=
[[ $rc == 0 ]] || fail "sandbox exit status $rc after SIGTERM"
ok "SIGTERM: clean exit"
echo "$PASSED passed, $FAILED failed"
