"""The canaryd sandbox's modules (entry point: tests/sandbox/sandbox.py), one concern each:

  common     JSON as the services write it, times, strict JSON equality, the request log
  jsonpatch  JSON Merge Patch and JSON Patch
  recorder   every request, per-verb counts, VirtualService state writes
  faults     injected failures
  server     HTTP plumbing: the server and the handler every service subclasses
  datadog    the Datadog metrics API
  datadog_events  the Datadog events API (POST and GET /api/v1/events)
  kube       the Kubernetes API server (Istio VirtualServices, Leases, Deployments)
  slack      Slack webhooks and Web API
  pagerduty  the PagerDuty Events API v2
  admin      the admin API
  scenario   the scenario file
  series     realistic series (also used offline by bench/quality)
  core       the Sandbox: the state the services share

Services get the Sandbox passed in and do not import core; nothing here imports the entry point.
Importing the package imports none of its modules.
"""
