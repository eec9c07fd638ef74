"""Kubernetes API server emulation: discovery, OpenAPI v3 and Namespaces; Istio VirtualServices
(networking.istio.io v1/v1beta1/v1alpha3), Leases (coordination.k8s.io/v1) and Deployments
(apps/v1) with GET/LIST/WATCH/PUT/PATCH/POST/DELETE, resourceVersions, conflicts, Istio's weight
admission and kubectl's tables; errors as metav1.Status in the apiserver's bytes. KubeStore holds
the objects, one resourceVersion counter and the event history that watches replay.
"""

import copy
import hashlib
import json
import re
import threading
import time
import uuid

from .common import go_json, human_duration, json_equal, rfc3339
from .jsonpatch import PatchError, json_patch, merge_patch
from .server import SandboxHandler


ISTIO = "networking.istio.io"
RESOURCES = {
    (ISTIO, "virtualservices"): {
        "kind": "VirtualService", "listKind": "VirtualServiceList", "singular": "virtualservice",
        "versions": ["v1", "v1beta1", "v1alpha3"], "cr": True, "shortNames": ["vs"],
        "categories": ["istio-io", "networking-istio-io"], "generation": True,
        "unconditional_update": False},
    ("coordination.k8s.io", "leases"): {
        "kind": "Lease", "listKind": "LeaseList", "singular": "lease", "versions": ["v1"],
        "cr": False, "shortNames": [], "generation": False, "unconditional_update": False,
        "no_status": True},
    ("apps", "deployments"): {
        "kind": "Deployment", "listKind": "DeploymentList", "singular": "deployment",
        "versions": ["v1"], "cr": False, "shortNames": ["deploy"], "categories": ["all"],
        "generation": True, "unconditional_update": True},
}
VERBS = ["delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"]
SMP_415 = ("the body of the request was in an unknown format - accepted media types include: "
           "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml")


class KubeError(Exception):
    def __init__(self, code, message, reason=None, details=None, headers=None):
        super().__init__(message)
        self.code, self.message, self.reason, self.details = code, message, reason, details
        self.headers = headers


def status_body(code, message, reason=None, details=None, success=False):
    """A metav1.Status in Go's field order, with the trailing newline the apiserver writes."""
    st = {"kind": "Status", "apiVersion": "v1", "metadata": {},
          "status": "Success" if success else "Failure"}
    if message:
        st["message"] = message
    if reason:
        st["reason"] = reason
    if details is not None:
        st["details"] = details
    st["code"] = code
    return go_json(st) + "\n"


def details(name, group, kind, causes=None, uid=None):
    d = {}
    if name:
        d["name"] = name
    if group:
        d["group"] = group
    d["kind"] = kind
    if uid:
        d["uid"] = uid
    if causes:
        d["causes"] = causes
    return d


def canary_weight(vs, subset):
    """The largest weight of any route destination with this subset (0 when absent)."""
    best = 0
    spec = (vs or {}).get("spec") or {}
    for section in ("http", "tls", "tcp"):
        for route in spec.get(section) or []:
            for dst in (route or {}).get("route") or []:
                if ((dst or {}).get("destination") or {}).get("subset") == subset:
                    w = dst.get("weight", 0)
                    if isinstance(w, (int, float)) and w > best:
                        best = w
    return best


def istio_weight_errors(vs, rules):
    """Istio admission validation of route weights (>= 1.15 rules, or 'legacy' sum == 100)."""
    errs = []
    spec = (vs or {}).get("spec")
    if not isinstance(spec, dict):
        return errs
    for section in ("http", "tls", "tcp"):
        for route in spec.get(section) or []:
            dsts = (route or {}).get("route") or []
            if not isinstance(dsts, list):
                continue
            total = 0
            for d in dsts:
                w = (d or {}).get("weight", 0)
                if not isinstance(w, int) or isinstance(w, bool):
                    errs.append("weight must be an integer")
                    continue
                if w < 0:
                    errs.append("weight %d < 0" % w)
                total += w
            if len(dsts) > 1:
                if rules == "legacy" and total != 100:
                    errs.append("total destination weight %d != 100" % total)
                elif total == 0:
                    errs.append("total destination weight = 0")
    return errs


class KubeStore:
    """Objects keyed by (group, resource, namespace, name); one global resourceVersion counter."""

    HISTORY = 2000

    def __init__(self, sandbox, rv_start=1000):
        self.sb = sandbox
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.rv = rv_start
        self.base_rv = rv_start
        self.objects = {}
        self.events = []  # (rv, type, group, resource, obj)
        self.epoch = 0  # bumped by compact(): open watches end

    def next_rv(self):
        self.rv += 1
        return str(self.rv)

    def get(self, group, res, ns, name):
        with self.lock:
            obj = self.objects.get((group, res, ns, name))
            return copy.deepcopy(obj) if obj is not None else None

    def list(self, group, res, ns=None):
        with self.lock:
            return [copy.deepcopy(o) for (g, r, n, _), o in sorted(self.objects.items())
                    if g == group and r == res and (ns is None or n == ns)]

    def _event(self, etype, group, res, obj):
        self.events.append((int(obj["metadata"]["resourceVersion"]), etype, group, res,
                            copy.deepcopy(obj)))
        if len(self.events) > self.HISTORY:
            del self.events[: len(self.events) - self.HISTORY]
        self.cond.notify_all()

    def oldest_rv(self):
        return self.events[0][0] - 1 if len(self.events) >= self.HISTORY else self.base_rv

    def compact(self):
        """Forget the history, as an etcd compaction plus a watch-cache restart do: open watch
        streams end, and a watch from any resourceVersion issued so far gets ERROR 410."""
        with self.lock:
            self.rv += 1
            self.base_rv = self.rv
            self.events = []
            self.epoch += 1
            self.cond.notify_all()
            return self.rv

    def create(self, group, res, obj, etype="ADDED"):
        with self.lock:
            md = obj.setdefault("metadata", {})
            md["uid"] = md.get("uid") or str(uuid.uuid4())
            md["creationTimestamp"] = md.get("creationTimestamp") or rfc3339(time.time())
            if RESOURCES[(group, res)]["generation"]:
                md["generation"] = 1
            md["resourceVersion"] = self.next_rv()
            self.objects[(group, res, md.get("namespace"), md["name"])] = copy.deepcopy(obj)
            self._event(etype, group, res, obj)
            self.sb.on_kube_change()
            return copy.deepcopy(obj)

    def replace(self, group, res, old, new):
        """Store `new` over `old` (server-owned fields kept); a no-op write keeps the RV."""
        with self.lock:
            md, omd = new.setdefault("metadata", {}), old["metadata"]
            for k in ("uid", "creationTimestamp", "name", "namespace", "generation"):
                if k in omd:
                    md[k] = omd[k]
                else:
                    md.pop(k, None)
            md["resourceVersion"] = omd["resourceVersion"]
            if json_equal(new, old):
                return copy.deepcopy(old), False
            if RESOURCES[(group, res)]["generation"] and not json_equal(new.get("spec"),
                                                                         old.get("spec")):
                md["generation"] = int(omd.get("generation", 1)) + 1
            md["resourceVersion"] = self.next_rv()
            self.objects[(group, res, md.get("namespace"), md["name"])] = copy.deepcopy(new)
            self._event("MODIFIED", group, res, new)
            self.sb.on_kube_change()
            return copy.deepcopy(new), True

    def bump(self, group, res, ns, name):
        """Simulate a concurrent writer: a new resourceVersion, nothing else changes."""
        with self.lock:
            obj = self.objects.get((group, res, ns, name))
            if obj is None:
                return None
            obj["metadata"]["resourceVersion"] = self.next_rv()
            self._event("MODIFIED", group, res, obj)
            return copy.deepcopy(obj)

    def delete(self, group, res, ns, name):
        with self.lock:
            obj = self.objects.pop((group, res, ns, name), None)
            if obj is not None:
                obj["metadata"]["resourceVersion"] = self.next_rv()
                self._event("DELETED", group, res, obj)
                self.sb.on_kube_change()
            return obj


def label_selector_match(sel, labels):
    if not sel:
        return True
    labels = labels or {}
    for term in sel.split(","):
        term = term.strip()
        if not term:
            continue
        if "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k.strip()) == v.strip():
                return False
        elif "=" in term:
            k, v = term.split("=", 1)
            if labels.get(k.strip().rstrip("=")) != v.strip().lstrip("="):
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def field_selector_match(sel, obj):
    if not sel:
        return True
    md = obj.get("metadata", {})
    for term in sel.split(","):
        neg = "!=" in term
        k, v = re.split(r"!=|==|=", term, maxsplit=1)
        actual = {"metadata.name": md.get("name"), "metadata.namespace": md.get("namespace")}.get(
            k.strip())
        if (actual == v.strip()) == neg:
            return False
    return True


def expired_status(rv, oldest):
    """The in-stream ERROR object of a watch whose resourceVersion is gone (WIRE.md §2.4)."""
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "too old resource version: %d (%d)" % (rv, oldest), "reason": "Expired",
            "code": 410}


class Kube:
    """Kubernetes API server emulation (discovery, CRUD, patch, watch, tables)."""

    PATH_RX = re.compile(r"^/apis/([^/]+)/([^/]+)(?:/namespaces/([^/]+))?/([^/]+)(?:/([^/]+))?"
                         r"(?:/(status))?/?$")

    def __init__(self, sandbox, cfg):
        self.sb = sandbox
        self.cfg = cfg
        self.conflicts = {}  # (group, res, ns, name) -> remaining forced conflicts

    # -- responses --
    def send_status(self, h, err):
        h.send(err.code, status_body(err.code, err.message, err.reason, err.details),
               "application/json", self.common_headers(err.headers))

    def common_headers(self, extra=None):
        hdrs = {"Audit-Id": str(uuid.uuid4()), "Cache-Control": "no-cache, private",
                "X-Kubernetes-Pf-Flowschema-Uid": "sandbox-flowschema",
                "X-Kubernetes-Pf-Prioritylevel-Uid": "sandbox-prioritylevel"}
        hdrs.update(extra or {})
        return hdrs

    def send_obj(self, h, code, obj, cr):
        h.send(code, go_json(obj, sort_keys=cr) + "\n", "application/json", self.common_headers())

    def stamp(self, obj, group, version, res):
        out = {"apiVersion": "%s/%s" % (group, version), "kind": RESOURCES[(group, res)]["kind"]}
        out.update({k: v for k, v in obj.items() if k not in ("apiVersion", "kind")})
        return out

    # -- auth --
    def authorized(self, h):
        auth = h.headers.get("Authorization")
        # --kube-tls-client-ca: a client certificate that CA signed authenticates (as its CN),
        # the way the apiserver's --client-ca-file does; the token is then not needed.
        getpeercert = getattr(h.connection, "getpeercert", None)
        if auth is None and getpeercert is not None:
            try:
                cert = getpeercert()
            except (ValueError, OSError):
                cert = None
            if cert:
                h.rec["client_cert_cn"] = next(
                    (v for rdn in cert.get("subject", ()) for (k, v) in rdn if k == "commonName"),
                    "")
                return True
        if auth is None:
            return bool(self.cfg.get("allow_anonymous_loopback", True)) and \
                h.client_address[0].startswith("127.")
        token = self.cfg.get("token", "sandbox-token")
        return auth.strip() == "Bearer " + token

    # -- dispatch --
    def handle(self, h):
        p = h.req_path
        if not self.authorized(h):
            return self.send_status(h, KubeError(401, "Unauthorized", "Unauthorized"))
        try:
            if h.method == "GET" and p in ("/api", "/api/"):
                port = h.server.server_address[1]
                return h.send(200, go_json({"kind": "APIVersions", "versions": ["v1"],
                                            "serverAddressByClientCIDRs": [{
                                                "clientCIDR": "0.0.0.0/0",
                                                "serverAddress": "127.0.0.1:%d" % port}]}))
            if h.method == "GET" and p == "/api/v1":
                return h.send(200, go_json({"kind": "APIResourceList", "groupVersion": "v1",
                                            "resources": [{
                                                "name": "namespaces", "singularName": "namespace",
                                                "namespaced": False, "kind": "Namespace",
                                                "verbs": ["get", "list"], "shortNames": ["ns"]}]}))
            m = re.match(r"^/api/v1/namespaces(?:/([^/]+))?/?$", p)
            if h.method == "GET" and m:
                return self.namespaces(h, m.group(1))
            if h.method == "GET" and p in ("/apis", "/apis/"):
                return h.send(200, go_json({"kind": "APIGroupList", "apiVersion": "v1",
                                            "groups": self.groups()}))
            if h.method == "GET" and p == "/version":
                return h.send(200, go_json({
                    "major": "1", "minor": "30", "gitVersion": "v1.30.0-sandbox",
                    "gitCommit": "0000000000000000000000000000000000000000",
                    "gitTreeState": "clean", "buildDate": "2024-04-17T00:00:00Z",
                    "goVersion": "go1.22.2", "compiler": "gc", "platform": "linux/amd64"}))
            if h.method == "GET" and p in ("/healthz", "/readyz", "/livez"):
                return h.send(200, "ok", "text/plain; charset=utf-8")
            if h.method == "GET" and p == "/openapi/v3":
                return h.send(200, go_json(self.openapi_root()), "application/json",
                              self.common_headers())
            m = re.match(r"^/openapi/v3/apis/([^/]+)/([^/]+)$", p)
            if h.method == "GET" and m:
                return self.openapi_gv(h, m.group(1), m.group(2))
            m = re.match(r"^/apis/([^/]+)(?:/([^/]+))?/?$", p)
            if m and h.method == "GET":
                return self.discovery(h, m.group(1), m.group(2))
            m = self.PATH_RX.match(p)
            if m:
                return self.resource(h, *m.groups())
            h.send(404, "404 page not found\n", "text/plain; charset=utf-8")
        except KubeError as e:
            self.send_status(h, e)

    def namespaces(self, h, name):
        """Core v1 Namespaces: every namespace named in the scenario or holding an object."""
        with self.sb.store.lock:
            names = set(self.cfg.get("namespaces", [])) | {"default", "kube-system"} | {
                k[2] for k in self.sb.store.objects if k[2]}

        def ns_obj(n):
            return {"kind": "Namespace", "apiVersion": "v1",
                    "metadata": {"name": n, "uid": str(uuid.uuid5(uuid.NAMESPACE_DNS, n)),
                                 "resourceVersion": str(self.sb.store.base_rv),
                                 "creationTimestamp": rfc3339(self.sb.started),
                                 "labels": {"kubernetes.io/metadata.name": n}},
                    "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}
        if name is None:
            return h.send(200, go_json({"kind": "NamespaceList", "apiVersion": "v1",
                                        "metadata": {"resourceVersion": str(self.sb.store.rv)},
                                        "items": [ns_obj(n) for n in sorted(names)]}))
        if name not in names:
            raise KubeError(404, 'namespaces "%s" not found' % name, "NotFound",
                            details(name, None, "namespaces"))
        return h.send(200, go_json(ns_obj(name)))

    def served(self, group, res):
        """Versions served; kubernetes.virtual_service_versions restricts the Istio ones (an
        older Istio), for canaryd's discovery of the newest served version."""
        versions = RESOURCES[(group, res)]["versions"]
        if group == ISTIO and self.cfg.get("virtual_service_versions"):
            versions = [v for v in versions if v in self.cfg["virtual_service_versions"]]
        return versions

    def groups(self):
        out = {}
        for (group, res), rd in RESOURCES.items():
            versions = self.served(group, res)
            out[group] = {"name": group, "versions": [
                {"groupVersion": "%s/%s" % (group, v), "version": v} for v in versions],
                "preferredVersion": {"groupVersion": "%s/%s" % (group, versions[0]),
                                     "version": versions[0]}}
        return list(out.values())

    # -- OpenAPI v3: just enough for kubectl's --validate=strict (server-side field validation) --
    def openapi_root(self):
        paths = {}
        for (group, _), rd in RESOURCES.items():
            for v in rd["versions"]:
                gv = "apis/%s/%s" % (group, v)
                paths[gv] = {"serverRelativeURL": "/openapi/v3/%s?hash=%s" % (
                    gv, hashlib.sha256(gv.encode()).hexdigest()[:32].upper())}
        return {"paths": paths}

    def openapi_gv(self, h, group, version):
        paths = {}
        for (g, res), rd in RESOURCES.items():
            if g != group or version not in rd["versions"]:
                continue
            gvk = {"group": group, "version": version, "kind": rd["kind"]}
            params = [{"name": "fieldValidation", "in": "query", "schema": {"type": "string",
                                                                              "uniqueItems": True}},
                      {"name": "dryRun", "in": "query", "schema": {"type": "string",
                                                                     "uniqueItems": True}}]
            op = {"x-kubernetes-group-version-kind": gvk, "parameters": params,
                  "responses": {"200": {"description": "OK"}}}
            paths["/apis/%s/%s/namespaces/{namespace}/%s/{name}" % (group, version, res)] = {
                "get": dict(op, operationId="read" + rd["kind"]),
                "put": dict(op, operationId="replace" + rd["kind"]),
                "patch": dict(op, operationId="patch" + rd["kind"]),
                "delete": dict(op, operationId="delete" + rd["kind"])}
            paths["/apis/%s/%s/namespaces/{namespace}/%s" % (group, version, res)] = {
                "get": dict(op, operationId="list" + rd["kind"]),
                "post": dict(op, operationId="create" + rd["kind"])}
        if not paths:
            return h.send(404, "404 page not found\n", "text/plain; charset=utf-8")
        doc = {"openapi": "3.0.0", "info": {"title": "Kubernetes CRD Swagger (sandbox)",
                                            "version": "v0.1.0"},
               "paths": paths, "components": {"schemas": {}}}
        h.send(200, go_json(doc), "application/json", self.common_headers())

    def not_found_generic(self):
        return KubeError(404, "the server could not find the requested resource", "NotFound", {})

    def discovery(self, h, group, version):
        groups = {g["name"]: g for g in self.groups()}
        if group not in groups:
            raise self.not_found_generic()
        if version is None:
            g = dict(groups[group])
            return h.send(200, go_json({"kind": "APIGroup", "apiVersion": "v1", **g}))
        if not any(v["version"] == version for v in groups[group]["versions"]):
            raise self.not_found_generic()
        resources = []
        for (g, res), rd in RESOURCES.items():
            if g != group or version not in rd["versions"]:
                continue
            r = {"name": res, "singularName": rd["singular"], "namespaced": True,
                 "kind": rd["kind"], "verbs": VERBS}
            if rd["shortNames"]:
                r["shortNames"] = rd["shortNames"]
            if rd.get("categories"):
                r["categories"] = rd["categories"]
            r["storageVersionHash"] = hashlib.sha256(res.encode()).hexdigest()[:11]
            resources.append(r)
            if not rd.get("no_status"):
                resources.append({"name": res + "/status", "singularName": "", "namespaced": True,
                                  "kind": rd["kind"], "verbs": ["get", "patch", "update"]})
        h.send(200, go_json({"kind": "APIResourceList", "apiVersion": "v1",
                             "groupVersion": "%s/%s" % (group, version), "resources": resources}))

    def resource(self, h, group, version, ns, res, name, sub):
        rd = RESOURCES.get((group, res))
        if rd is None or version not in self.served(group, res):
            raise self.not_found_generic()
        gr = "%s.%s" % (res, group)
        ctx = {"group": group, "version": version, "res": res, "rd": rd, "gr": gr, "ns": ns,
               "name": name, "sub": sub}
        m = h.method
        if name is None:
            if m == "GET" and h.q.get("watch") in ("true", "1"):
                return self.watch(h, ctx)
            if m == "GET":
                return self.do_list(h, ctx)
            if m == "POST" and ns:
                return self.do_create(h, ctx)
            return self.method_not_allowed(h)
        if ns is None:
            raise self.not_found_generic()
        if m == "GET":
            obj = self.must_get(ctx)
            if self.wants_table(h):
                return h.send(200, go_json(self.table(ctx, [obj])), "application/json",
                              self.common_headers())
            return self.send_obj(h, 200, self.stamp(obj, group, version, res), rd["cr"])
        if m == "PUT":
            return self.do_update(h, ctx)
        if m == "PATCH":
            return self.do_patch(h, ctx)
        if m == "DELETE" and sub is None:
            return self.do_delete(h, ctx)
        return self.method_not_allowed(h)

    def method_not_allowed(self, h):
        self.send_status(h, KubeError(405, "the server does not allow this method on the requested "
                                           "resource", "MethodNotAllowed", {}))

    def must_get(self, ctx):
        obj = self.sb.store.get(ctx["group"], ctx["res"], ctx["ns"], ctx["name"])
        if obj is None:
            raise KubeError(404, '%s "%s" not found' % (ctx["gr"], ctx["name"]), "NotFound",
                            details(ctx["name"], ctx["group"], ctx["res"]))
        return obj

    def wants_table(self, h):
        acc = h.headers.get("Accept", "")
        first = acc.split(",")[0]
        return "as=Table" in first and "g=meta.k8s.io" in first

    # -- list / watch --
    def selected(self, h, ctx):
        objs = self.sb.store.list(ctx["group"], ctx["res"], ctx["ns"])
        return [o for o in objs
                if label_selector_match(h.q.get("labelSelector"),
                                        o.get("metadata", {}).get("labels"))
                and field_selector_match(h.q.get("fieldSelector"), o)]

    def do_list(self, h, ctx):
        with self.sb.store.lock:
            objs = self.selected(h, ctx)
            rv = str(self.sb.store.rv)
        if self.wants_table(h):
            return h.send(200, go_json(self.table(ctx, objs, rv)), "application/json",
                          self.common_headers())
        lst = {"apiVersion": "%s/%s" % (ctx["group"], ctx["version"]),
               "kind": ctx["rd"]["listKind"], "metadata": {"resourceVersion": rv},
               "items": [self.stamp(o, ctx["group"], ctx["version"], ctx["res"]) for o in objs]}
        if ctx["rd"]["cr"]:
            lst["metadata"]["continue"] = ""
        self.send_obj(h, 200, lst, ctx["rd"]["cr"])

    def table(self, ctx, objs, rv=None):
        res = ctx["res"]
        now = time.time()

        def age(o):
            ts = o.get("metadata", {}).get("creationTimestamp")
            try:
                t = time.mktime(time.strptime(ts, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
            except (TypeError, ValueError):
                return "<unknown>"
            return human_duration(now - t)

        name_col = {"name": "Name", "type": "string", "format": "name", "priority": 0,
                    "description": "Name must be unique within a namespace."}
        age_col = {"name": "Age", "type": "date", "format": "", "priority": 0,
                   "description": "CreationTimestamp is a timestamp representing the server time "
                                  "when this object was created."}

        def col(n, d):
            return {"name": n, "type": "string", "format": "", "description": d, "priority": 0}

        if res == "virtualservices":
            cols = [name_col, col("Gateways", "The names of gateways and sidecars that should "
                                              "apply these routes"),
                    col("Hosts", "The destination hosts to which traffic is being sent"), age_col]

            def cells(o):
                spec = o.get("spec") or {}
                return [o["metadata"]["name"],
                        go_json(spec["gateways"]) if "gateways" in spec else None,
                        go_json(spec["hosts"]) if "hosts" in spec else None, age(o)]
        elif res == "leases":
            cols = [name_col, col("Holder", "holderIdentity"), age_col]

            def cells(o):
                return [o["metadata"]["name"],
                        (o.get("spec") or {}).get("holderIdentity", ""), age(o)]
        else:
            cols = [name_col, col("Ready", "ready/desired replicas"),
                    col("Up-to-date", "updated replicas"), col("Available", "available replicas"),
                    age_col]

            def cells(o):
                st, spec = o.get("status") or {}, o.get("spec") or {}
                return [o["metadata"]["name"],
                        "%d/%d" % (st.get("readyReplicas", 0), spec.get("replicas", 1)),
                        st.get("updatedReplicas", 0), st.get("availableReplicas", 0), age(o)]
        rows = []
        for o in objs:
            md = {k: v for k, v in o["metadata"].items() if k != "managedFields"}
            rows.append({"cells": cells(o), "object": {
                "kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": md}})
        return {"kind": "Table", "apiVersion": "meta.k8s.io/v1",
                "metadata": {"resourceVersion": rv or str(self.sb.store.rv)},
                "columnDefinitions": cols, "rows": rows}

    def watch(self, h, ctx):
        store = self.sb.store
        group, res = ctx["group"], ctx["res"]
        try:
            timeout = min(int(h.q.get("timeoutSeconds", "1800")), 3600)
        except ValueError:
            timeout = 1800
        deadline = time.time() + timeout
        rv_param = h.q.get("resourceVersion", "")
        bookmarks = h.q.get("allowWatchBookmarks") == "true"
        bookmark_every = float(self.cfg.get("watch_bookmark_seconds", 60))
        epoch = store.epoch

        def visible(obj):
            return ((ctx["ns"] is None or obj["metadata"].get("namespace") == ctx["ns"])
                    and label_selector_match(h.q.get("labelSelector"),
                                             obj["metadata"].get("labels"))
                    and field_selector_match(h.q.get("fieldSelector"), obj))

        pending = []
        with store.lock:
            if rv_param in ("", "0"):
                pending = [("ADDED", o) for o in self.selected(h, ctx)]
                last = store.rv
            else:
                try:
                    last = int(rv_param)
                except ValueError:
                    raise KubeError(400, 'invalid resource version "%s"' % rv_param, "BadRequest")
                if last < store.oldest_rv():
                    pending = [("ERROR", expired_status(last, store.oldest_rv()))]
                    deadline = 0
                else:
                    pending = [(t, o) for (r, t, g, rs, o) in store.events
                               if r > last and g == group and rs == res and visible(o)]
                    last = store.rv
        # a network fault cuts or stalls the stream mid-way, after_s seconds in
        nf, h.netfault = getattr(h, "netfault", None), None
        cut_at = time.time() + nf["after_s"] if nf else None
        h.responded = True
        h.rec["status"] = 200
        h.rec["response_body"] = "(watch stream)"
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Transfer-Encoding", "chunked")
        for k, v in self.common_headers().items():
            h.send_header(k, v)
        h.end_headers()

        def emit(etype, obj):
            if etype != "ERROR":
                obj = self.stamp(obj, group, ctx["version"], res)
            line = ('{"type":%s,"object":%s}\n' % (
                go_json(etype), go_json(obj, sort_keys=ctx["rd"]["cr"] and etype != "ERROR"))
            ).encode("utf-8")
            h.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))

        def bookmark():
            # what the apiserver sends with allowWatchBookmarks: only the resourceVersion
            emit("BOOKMARK", {"metadata": {"resourceVersion": str(last)}})

        def network_fault():
            """Applies nf once its time has come; True when the stream is over."""
            if nf["stall_ms"] or nf["slow_bytes_per_s"]:
                h.rec["network"] = "watch stalled %d ms" % (nf["stall_ms"] or 1000)
                time.sleep((nf["stall_ms"] or 1000) / 1000.0)
                return False
            # half an event: a chunk that promises more bytes than come
            line = b'{"type":"MODIFIED","object":{"kind":"'
            h.wfile.write(b"%x\r\n%s" % (len(line) * 4, line))
            if nf["truncate"]:
                h.rec["network"] = "watch cut mid-chunk"
                h.close_fin()
            else:
                h.rec["network"] = "watch reset mid-chunk"
                h.reset_connection()
            return True

        try:
            for etype, obj in pending:
                emit(etype, obj)
            next_bookmark = time.time() + bookmark_every
            while time.time() < deadline and not self.sb.stopping.is_set():
                with store.cond:
                    wait = min(0.5, max(0.01, deadline - time.time()))
                    if nf:
                        wait = min(wait, max(0.01, cut_at - time.time()))
                    store.cond.wait(timeout=wait)
                    if store.epoch != epoch:
                        # compacted: the stream ends, the client re-watches (and gets 410); the
                        # store replaced by a scenario load: its history is gone, say so now
                        if store is not self.sb.store:
                            emit("ERROR", expired_status(last, store.rv))
                        break
                    new = [(r, t, o) for (r, t, g, rs, o) in store.events
                           if r > last and g == group and rs == res]
                    last = store.rv
                if nf and time.time() >= cut_at:  # before the events it holds back
                    if network_fault():
                        return
                    nf = None
                for _, t, o in new:
                    if visible(o):
                        emit(t, o)
                if bookmarks and (time.time() >= next_bookmark or time.time() >= deadline):
                    bookmark()  # periodically, and just before the timeout closes the stream
                    next_bookmark = time.time() + bookmark_every
            h.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass
        h.close_connection = True

    # -- writes --
    def decode(self, h):
        try:
            obj = h.json_body()
        except (ValueError, UnicodeDecodeError) as e:
            raise KubeError(400, "error decoding request body: %s" % e, "BadRequest")
        if not isinstance(obj, dict):
            raise KubeError(400, "the body of the request must be a JSON object", "BadRequest")
        return obj

    def check_kind(self, ctx, obj):
        rd = ctx["rd"]
        if "kind" in obj and obj["kind"] != rd["kind"]:
            raise KubeError(400, "the kind in the body (%s) does not match the kind on the URL "
                            "(%s)" % (obj["kind"], rd["kind"]), "BadRequest")
        api = obj.get("apiVersion")
        if api is not None and api not in ["%s/%s" % (ctx["group"], v) for v in rd["versions"]]:
            raise KubeError(400, "the API version in the data (%s) does not match the expected API "
                            "version (%s/%s)" % (api, ctx["group"], ctx["version"]), "BadRequest")
        if not isinstance(obj.get("metadata", {}), dict):
            raise KubeError(400, "metadata must be an object", "BadRequest")

    def admit(self, ctx, obj):
        if ctx["res"] != "virtualservices":
            return
        rules = self.cfg.get("validate_weights", "1.15")
        if rules in (False, "off", None):
            return
        errs = istio_weight_errors(obj, rules)
        if errs:
            raise KubeError(400, 'admission webhook "validation.istio.io" denied the request: '
                                 'configuration is invalid: ' + ", ".join(errs))

    def record_write(self, h, ctx, before, after):
        h.rec["kube_write"] = {"resource": ctx["res"], "namespace": ctx["ns"],
                               "name": ctx["name"], "before": before, "after": after}
        if ctx["res"] == "virtualservices" and after is not None:
            self.sb.recorder.note_write(ctx["ns"], ctx["name"], before, after)

    def conflict(self, ctx):
        return KubeError(409, 'Operation cannot be fulfilled on %s "%s": the object has been '
                              'modified; please apply your changes to the latest version and try '
                              'again' % (ctx["gr"], ctx["name"]), "Conflict",
                         details(ctx["name"], ctx["group"], ctx["res"]))

    def apply_forced_conflict(self, ctx):
        key = (ctx["group"], ctx["res"], ctx["ns"], ctx["name"])
        with self.sb.store.lock:
            if self.conflicts.get(key, 0) > 0:
                self.conflicts[key] -= 1
                self.sb.store.bump(*key)

    def update_common(self, h, ctx, new, explicit_rv):
        """Shared tail of PUT and PATCH: RV check, admission, store, respond."""
        store = self.sb.store
        md = new.setdefault("metadata", {})
        if md.get("name") not in (None, ctx["name"]):
            raise KubeError(400, "the name of the object (%s) does not match the name on the URL "
                                 "(%s)" % (md.get("name"), ctx["name"]), "BadRequest")
        if md.get("namespace") not in (None, ctx["ns"]):
            raise KubeError(400, "the namespace of the provided object does not match the "
                                 "namespace sent on the request", "BadRequest")
        md["name"], md["namespace"] = ctx["name"], ctx["ns"]
        for k in ("apiVersion", "kind"):
            new.pop(k, None)
        with store.lock:
            latest = store.get(ctx["group"], ctx["res"], ctx["ns"], ctx["name"])
            if latest is None:
                raise KubeError(404, '%s "%s" not found' % (ctx["gr"], ctx["name"]), "NotFound",
                                details(ctx["name"], ctx["group"], ctx["res"]))
            if explicit_rv is not None and explicit_rv != latest["metadata"]["resourceVersion"]:
                raise self.conflict(ctx)
            if ctx["sub"] == "status":
                merged = copy.deepcopy(latest)
                if "status" in new:
                    merged["status"] = new["status"]
                else:
                    merged.pop("status", None)
                new = merged
            elif "status" in latest or "status" in new:
                if ctx["rd"]["cr"] or ctx["res"] == "deployments":  # status only via /status
                    if "status" in latest:
                        new["status"] = latest["status"]
                    else:
                        new.pop("status", None)
            self.admit(ctx, new)
            if h.q.get("dryRun") == "All":
                result = new
                result["metadata"]["resourceVersion"] = latest["metadata"]["resourceVersion"]
            else:
                result, changed = store.replace(ctx["group"], ctx["res"], latest, new)
                if changed:
                    self.record_write(h, ctx, latest, result)
        self.send_obj(h, 200, self.stamp(result, ctx["group"], ctx["version"], ctx["res"]),
                      ctx["rd"]["cr"])

    def do_update(self, h, ctx):
        new = self.decode(h)
        self.check_kind(ctx, new)
        self.must_get(ctx)
        rv = (new.get("metadata") or {}).get("resourceVersion")
        if rv in (None, "") and not ctx["rd"]["unconditional_update"]:
            raise KubeError(422, '%s "%s" is invalid: metadata.resourceVersion: Invalid value: 0x0: '
                                 'must be specified for an update' % (ctx["gr"], ctx["name"]),
                            "Invalid", details(ctx["name"], ctx["group"], ctx["res"], [{
                                "reason": "FieldValueInvalid",
                                "message": "Invalid value: 0x0: must be specified for an update",
                                "field": "metadata.resourceVersion"}]))
        self.apply_forced_conflict(ctx)
        self.update_common(h, ctx, new, rv or None)

    def do_patch(self, h, ctx):
        ctype = h.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ctype == "application/strategic-merge-patch+json" and not ctx["rd"]["cr"]:
            ctype = "application/merge-patch+json"  # built-ins: close enough for our resources
        if ctype not in ("application/json-patch+json", "application/merge-patch+json",
                         "application/apply-patch+yaml"):
            raise KubeError(415, SMP_415, "UnsupportedMediaType")
        try:
            patch = json.loads(h.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            if ctype == "application/apply-patch+yaml":
                raise KubeError(400, "the sandbox only understands JSON-formatted apply patches",
                                "BadRequest")
            raise KubeError(400, "error decoding patch: %s" % e, "BadRequest")
        if ctype == "application/apply-patch+yaml" and not h.q.get("fieldManager"):
            raise KubeError(422, "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required "
                                 "value: is required for apply patch", "Invalid",
                            details("", "meta.k8s.io", "PatchOptions", [{
                                "reason": "FieldValueRequired",
                                "message": "Required value: is required for apply patch",
                                "field": "fieldManager"}]))
        with self.sb.store.lock:  # patch the latest object; no lost update in between
            self.patch_locked(h, ctx, ctype, patch)

    def patch_locked(self, h, ctx, ctype, patch):
        current = self.must_get(ctx)
        stamped = self.stamp(current, ctx["group"], ctx["version"], ctx["res"])
        if ctype == "application/json-patch+json":
            if not isinstance(patch, list):
                raise KubeError(400, "json: cannot unmarshal object into Go value of type "
                                     "jsonpatch.Patch", "BadRequest")
            if len(patch) > 10000:
                raise KubeError(413, "The allowed operations in a JSON patch are limited to 10000",
                                "RequestEntityTooLarge")
            try:
                new = json_patch(stamped, patch)
            except PatchError as e:
                raise KubeError(422, "the server rejected our request due to an error in our "
                                     "request", "Invalid", {"causes": [{"message": str(e)}]})
        else:
            if not isinstance(patch, dict):
                raise KubeError(400, "json: cannot unmarshal array into Go value of type "
                                     "map[string]interface {}", "BadRequest")
            new = merge_patch(stamped, patch)
        if not isinstance(new, dict):
            raise KubeError(422, "the server rejected our request due to an error in our request",
                            "Invalid")
        self.check_kind(ctx, new)
        if ctype == "application/json-patch+json":
            conditional = any(isinstance(op, dict) and op.get("path") == "/metadata/resourceVersion"
                              and op.get("op") in ("add", "replace") for op in patch)
        else:
            md = patch.get("metadata")
            conditional = isinstance(md, dict) and "resourceVersion" in md
        rv = (new.get("metadata") or {}).get("resourceVersion") or None if conditional else None
        if rv is not None:
            # The patched object carries a resourceVersion: it is a precondition, so a concurrent
            # write (or a forced conflict from the admin API) yields 409.
            self.apply_forced_conflict(ctx)
        self.update_common(h, ctx, new, rv)

    def do_create(self, h, ctx):
        obj = self.decode(h)
        self.check_kind(ctx, obj)
        md = obj.setdefault("metadata", {})
        if not md.get("name") and md.get("generateName"):
            md["name"] = md["generateName"] + uuid.uuid4().hex[:5]
        name = md.get("name")
        if not name:
            raise KubeError(422, '%s.%s "" is invalid: metadata.name: Required value: name or '
                                 'generateName is required' % (ctx["rd"]["kind"], ctx["group"]),
                            "Invalid", details("", ctx["group"], ctx["rd"]["kind"], [{
                                "reason": "FieldValueRequired",
                                "message": "Required value: name or generateName is required",
                                "field": "metadata.name"}]))
        if md.get("namespace") not in (None, ctx["ns"]):
            raise KubeError(400, "the namespace of the provided object does not match the "
                                 "namespace sent on the request", "BadRequest")
        md["namespace"] = ctx["ns"]
        for k in ("resourceVersion", "uid", "creationTimestamp", "generation"):
            md.pop(k, None)
        obj.pop("apiVersion", None)
        obj.pop("kind", None)
        cctx = dict(ctx, name=name)
        self.admit(cctx, obj)
        store = self.sb.store
        with store.lock:
            if store.get(ctx["group"], ctx["res"], ctx["ns"], name) is not None:
                raise KubeError(409, '%s "%s" already exists' % (ctx["gr"], name), "AlreadyExists",
                                details(name, ctx["group"], ctx["res"]))
            if h.q.get("dryRun") == "All":
                result = obj
            else:
                result = store.create(ctx["group"], ctx["res"], obj)
                self.record_write(h, cctx, None, result)
        self.send_obj(h, 201, self.stamp(result, ctx["group"], ctx["version"], ctx["res"]),
                      ctx["rd"]["cr"])

    def do_delete(self, h, ctx):
        store = self.sb.store
        opts = {}
        if h.body:
            try:
                opts = h.json_body()
            except (ValueError, UnicodeDecodeError):
                raise KubeError(400, "the body of the request was in an unknown format",
                                "BadRequest", {})
        pre = (opts or {}).get("preconditions") or {} if isinstance(opts, dict) else {}
        with store.lock:
            obj = self.must_get(ctx)
            # DeleteOptions.preconditions, as the API server checks them
            want_rv, meta = pre.get("resourceVersion"), obj["metadata"]
            if want_rv is not None and want_rv != meta.get("resourceVersion"):
                raise KubeError(409, 'Operation cannot be fulfilled on %s "%s": Precondition '
                                     'failed: ResourceVersion in precondition: %s, '
                                     'ResourceVersion in object meta: %s'
                                % (ctx["gr"], ctx["name"], want_rv, meta.get("resourceVersion")),
                                "Conflict", details(ctx["name"], ctx["group"], ctx["res"]))
            if pre.get("uid") is not None and pre["uid"] != meta.get("uid"):
                raise KubeError(409, 'Operation cannot be fulfilled on %s "%s": Precondition '
                                     'failed: UID in precondition: %s, UID in object meta: %s'
                                % (ctx["gr"], ctx["name"], pre["uid"], meta.get("uid")),
                                "Conflict", details(ctx["name"], ctx["group"], ctx["res"]))
            store.delete(ctx["group"], ctx["res"], ctx["ns"], ctx["name"])
            self.record_write(h, ctx, obj, None)
        d = details(ctx["name"], ctx["group"], ctx["res"], uid=obj["metadata"].get("uid"))
        h.send(200, status_body(200, None, None, d, success=True), "application/json",
               self.common_headers())


class KubeHandler(SandboxHandler):
    service = "kube"

    def default_fault_ctype(self, body):
        return "application/json"

    def route(self):
        self.sb.kube.handle(self)
