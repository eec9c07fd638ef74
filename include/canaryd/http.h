/* HTTP client on the sd-event loop: libcurl's multi interface driven by io and time sources
 * (STYLE.md §4). Nothing here blocks. One struct http_client per daemon. */
#pragma once

#include "canaryd/io-layer.h"

#include <stdbool.h>
#include <stddef.h>

#include <systemd/sd-event.h>

#include "canaryd/util.h"

struct http_client;
struct http_request;

struct http_header {
        char *name;  /* as received */
        char *value; /* trimmed */
};

struct http_response {
        long status; /* 0 when the transfer failed before a status line */
        char *body;  /* NUL-terminated, may contain NULs; never NULL */
        size_t body_len;
        struct http_header *headers; /* of the final response */
        size_t n_headers;
};

/* Case-insensitive header lookup; NULL when absent. */
const char *http_response_header(const struct http_response *r, const char *name);
/* The Retry-After header in delay-seconds (RFC 9110 §10.2.3), capped at cap; absent when r is
 * NULL or the header is missing or not a plain number (an HTTP-date included). */
usec_t http_retry_after(const struct http_response *r, usec_t absent, usec_t cap);

/* Called once per submitted request, from the event loop, never from inside curl.
 * error: 0 when an HTTP response arrived (any status), else a negative errno:
 * -ETIMEDOUT, -ECONNREFUSED, -EHOSTUNREACH, -EPROTO (TLS, malformed), -EFBIG (body over cap),
 * -ECANCELED (client shut down). resp is borrowed for the call and NULL when error != 0.
 * errmsg is a short human description of a transport error (borrowed; NULL when error == 0). */
typedef void http_done_fn(int error, const struct http_response *resp, const char *errmsg,
                          void *userdata);

/* Streaming (opts.on_data): receives the body of a 2xx response piece by piece as it arrives,
 * from the event loop (never from inside curl), in order, before the request's done callback.
 * data is borrowed for the call. The body of any other status is buffered as usual and handed
 * to done. The callback may submit requests and cancel any request, this one included; it must
 * not free the client. */
typedef void http_data_fn(const char *data, size_t len, void *userdata);

struct http_request_opts {
        const char *method;         /* "GET", "PUT", "POST", "PATCH", "DELETE"; NULL = GET */
        const char *url;            /* required */
        const char *const *headers; /* NULL-terminated "Name: value" strings, or NULL */
        const char *body;           /* copied; NULL = none */
        size_t body_len;
        long timeout_ms;         /* whole transfer; 0 = 10000 (streaming: 0 = none) */
        long connect_timeout_ms; /* 0 = min(timeout, 5000) */
        size_t max_body; /* 0 = 8 MiB; streaming: cap on the bytes received but not delivered */
        http_data_fn *on_data; /* NULL: buffer the body; else stream it (a watch). A streaming
                                  request also gets TCP keep-alive probes. */
        long idle_timeout_ms;  /* > 0: fail with -ETIMEDOUT when fewer bytes than its seconds
                                  arrive over that many seconds (curl's low-speed limit; curl
                                  averages over the last 5 s, so a stall after data is seen up
                                  to 5 s late) */
        const char *ca_file;   /* PEM bundle for https, or NULL for the system store */
        const char *ca_pem;    /* in-memory PEM (kubeconfig *-data), or NULL */
        const char *client_cert_file; /* optional mTLS */
        const char *client_key_file;
        const char *client_cert_pem; /* in-memory PEM alternatives (kubeconfig *-data) */
        const char *client_key_pem;
        bool insecure_skip_verify;
        bool idempotent; /* a request other than a GET that may safely reach the server twice
                            (a query sent as a POST). Without it, such a request always goes on
                            a fresh connection: on a reused one, libcurl silently sends it again
                            when the connection dies before the first response byte, though the
                            server may have acted on it (a Slack message posted twice; a PUT
                            that landed answered by its copy's 409, taken for someone else's
                            write). */
};

/* Takes a reference on event. Returns -EOPNOTSUPP when libcurl lacks an asynchronous resolver
 * (name lookups would block the loop). main() must call curl_global_init() first and ignore
 * SIGPIPE (requests use CURLOPT_NOSIGNAL). */
int http_client_new(sd_event *event, struct http_client **ret);
/* Cancels every in-flight request (their callbacks run with -ECANCELED before this returns),
 * then frees. NULL-safe; returns NULL. May be called from a done callback; a callback that runs
 * with -ECANCELED must not free the client again, and http_submit from it fails. */
struct http_client *http_client_free(struct http_client *c);

/* Starts a request. All strings in opts are copied. Returns 0 (done will be called exactly
 * once, later, from the loop) or a negative errno (done is never called). */
int http_submit(struct http_client *c, const struct http_request_opts *opts, http_done_fn *done,
                void *userdata);

/* http_submit that also returns the request's handle in *ret (may be NULL), for http_cancel.
 * The handle is valid until done starts running. */
int http_submit_handle(struct http_client *c, const struct http_request_opts *opts,
                       http_done_fn *done, void *userdata, struct http_request **ret);
/* Stops a request: its transfer is dropped and neither done nor on_data runs afterwards. May be
 * called from any callback, including the request's own on_data, but not with a handle whose
 * done has started. NULL-safe. */
void http_cancel(struct http_client *c, struct http_request *req);

/* Number of requests in flight (for graceful shutdown). */
size_t http_client_in_flight(const struct http_client *c);

/* Percent-encodes s for a query string component. Caller owns the result. */
char *http_escape(const char *s);
