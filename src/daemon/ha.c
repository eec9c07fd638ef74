/* HA by shard Leases (SPEC §4 `ha:`, WIRE.md §2.5).
 *
 * Canaries hash (FNV-1a of "namespace/name") onto ha.shards shards; shard i is the
 * coordination.k8s.io/v1 Lease canaryd-shard-<i> in ha.namespace. Each daemon also keeps a member
 * Lease canaryd-member-<identity>, so that every daemon knows how many are alive and takes a fair
 * share: with M live members sorted by identity, member k targets N/M shards, plus one when
 * k < N % M.
 *
 * Every retry period (lease_duration / 8) one round runs: LIST the Leases of the namespace, renew
 * our member Lease, renew the shards we hold (or release the ones above our share), and try to
 * take free or expired ones while below our share. That is 2 + about N/M requests per round,
 * whatever the number of canaries.
 *
 * client-go semantics: takeover and renewal are PUTs of the whole object with its
 * resourceVersion (a racing candidate gets 409); a new holder sets acquireTime and bumps
 * leaseTransitions; a Lease is expired when its record has not been seen to change for
 * leaseDurationSeconds of *local* time (no clock-skew trust); release on graceful stop writes
 * holderIdentity "" and leaseDurationSeconds 1.
 *
 * Safety: we act for a shard only while our last successful write is younger than the renew
 * deadline (2/3 of the lease duration, measured from when that write was *sent*); another daemon
 * takes over only after a full lease duration without change. A 409 on renewal, or a record
 * showing another holder, stops us at once. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "canary.h"
#include "canaryd/clock.h"
#include "canaryd/kube.h"
#include "canaryd/lease.h"
#include "canaryd/log.h"
#include "ha.h"

#define SHARD_PREFIX  "canaryd-shard-"
#define MEMBER_PREFIX "canaryd-member-"

struct shard {
        bool exists;
        char *raw; /* the item as listed, to PUT back */
        struct lease_record rec;
        char *rv_seen; /* resourceVersion last seen, for expiry by observation */
        usec_t observed;
        bool owned;
        usec_t renewed_at; /* monotonic: when our last successful write was sent */
        bool in_flight;
        bool release_after; /* stopping: release once the write in flight is answered */
};

struct member {
        char *holder;
        char *rv;
        usec_t observed;
        long duration;
        unsigned shards; /* the shard count it hashes onto (0: not said) */
        bool seen;       /* in the last list */
        bool deleting;   /* our DELETE of its Lease (it is long gone) is out */
};

struct ha {
        struct daemon *d;
        ha_shard_fn *on_shard;
        char *identity, *member_name, *ns;
        unsigned n_shards;
        usec_t duration, period, deadline;
        struct shard *shards;
        struct member *members;
        size_t n_members;
        char *member_raw, *member_rv;
        bool member_in_flight;
        sd_event_source *timer;
        bool list_in_flight;
        bool list_failing;
        bool disagree; /* a live member hashes onto another shard count: we hold nothing */
        bool releasing;
        bool member_release_after; /* releasing: our member renewal in flight, then release */
        unsigned release_pending;
        unsigned requests; /* Kubernetes requests in flight, whose callbacks reach this ha */
        void (*release_done)(struct daemon *d);
};

enum op_kind { OP_ACQUIRE, OP_RENEW, OP_RELEASE, OP_MEMBER };

struct op {
        struct ha *h;
        unsigned shard;
        enum op_kind kind;
        bool release; /* OP_MEMBER: the release of the member Lease */
        usec_t sent;
        char from[128]; /* OP_ACQUIRE: the holder it takes the expired Lease from ("": none) */
};

unsigned ha_shard_of(const char *namespace_, const char *name, unsigned shards)
{
        uint32_t x = 2166136261u;
        for (const char *p = namespace_; p && *p; p++)
                x = (x ^ (uint8_t)*p) * 16777619u;
        x = (x ^ (uint8_t)'/') * 16777619u;
        for (const char *p = name; p && *p; p++)
                x = (x ^ (uint8_t)*p) * 16777619u;
        return shards ? x % shards : 0;
}

static bool shard_valid(const struct ha *h, const struct shard *s)
{
        return s->owned && event_now_monotonic(h->d->event) < s->renewed_at + h->deadline;
}

bool ha_owns(const struct daemon *d, const struct canary *c)
{
        if (!d->ha)
                return true;
        const struct ha *h = d->ha;
        unsigned i = ha_shard_of(c->cfg->namespace_, c->cfg->name, h->n_shards);
        /* handing over (a stop, or a reload that changes ha:): nothing more is written */
        return !h->releasing && shard_valid(h, &h->shards[i]);
}

const char *ha_identity(const struct daemon *d)
{
        return d->ha ? d->ha->identity : NULL;
}

unsigned ha_owned_count(const struct daemon *d)
{
        unsigned n = 0;
        for (unsigned i = 0; d->ha && i < d->ha->n_shards; i++)
                n += shard_valid(d->ha, &d->ha->shards[i]);
        return n;
}

/* why: for a shard lost, the reason; for one acquired, the daemon whose expired Lease it was
 * taken from (NULL or "": free or released) */
static void set_owned(struct ha *h, unsigned i, bool owned, const char *why)
{
        struct shard *s = &h->shards[i];
        bool was = s->owned;
        bool taken_over = owned && why && *why;
        s->owned = owned;
        if (was == owned)
                return;
        if (taken_over)
                log_notice("ha: acquired shard %u (lease %s%u), taken over from %s, which stopped "
                           "renewing it",
                           i, SHARD_PREFIX, i, why);
        else if (owned)
                log_notice("ha: acquired shard %u (lease %s%u)", i, SHARD_PREFIX, i);
        else
                log_warning("ha: no longer acting for shard %u: %s", i, why);
        h->on_shard(h->d, i, h->n_shards, owned, taken_over);
}

static void op_send(struct ha *h, unsigned shard, enum op_kind kind);

/* The release is over when every Lease write it counts is answered and no request is in
 * flight at all: then the ha may be freed (a reload frees it), as no callback will reach it. */
static void release_check(struct ha *h)
{
        void (*done)(struct daemon * d) = h->release_done;

        if (!h->releasing || h->release_pending > 0 || h->requests > 0 || !done)
                return;
        h->release_done = NULL;
        done(h->d);
}

static void release_one_done(struct ha *h)
{
        if (h->releasing && h->release_pending > 0)
                h->release_pending--;
        release_check(h);
}

/* Stopping: a renewal that was in flight when the release began is answered. The release goes
 * out now, with the resourceVersion that renewal produced (sent at once it would have met a
 * 409 and left the Lease held until it expired), or not at all when the shard is not ours. */
static void release_deferred(struct ha *h, unsigned i)
{
        struct shard *s = &h->shards[i];

        if (!s->release_after)
                return;
        s->release_after = false;
        if (s->exists && streq_ptr(s->rec.holder, h->identity))
                op_send(h, i, OP_RELEASE);
        else
                release_one_done(h);
}

/* Our member Lease written: its resourceVersion and item are kept for the next write. A renewal
 * answered while releasing is followed by the release, with the version it produced. */
static void member_written(struct ha *h, const struct op *op, const struct kube_result *res)
{
        h->member_in_flight = false;
        if (op->release) {
                release_one_done(h);
                return;
        }
        if (res->error == 0) {
                struct lease_record r = {0};
                if (lease_parse(res->body, res->body_len, &r, NULL) == 0) {
                        free(h->member_rv);
                        h->member_rv = r.resource_version;
                        r.resource_version = NULL;
                        free(h->member_raw);
                        h->member_raw = xstrndup(res->body, res->body_len);
                }
                lease_record_done(&r);
        }
        if (h->member_release_after) {
                h->member_release_after = false;
                if (res->error == 0 && h->member_rv)
                        op_send(h, 0, OP_MEMBER); /* counted when the release began */
                else
                        release_one_done(h);
        }
}

/* A takeover or renewal of shard op->shard answered: the shard is ours while the Lease written
 * names us; a conflict on renewal means it may not be. */
static void shard_written(struct ha *h, const struct op *op, const struct kube_result *res)
{
        struct shard *s = &h->shards[op->shard];

        if (res->error == 0) {
                struct lease_record r = {0};
                if (lease_parse(res->body, res->body_len, &r, NULL) == 0 &&
                    streq_ptr(r.holder, h->identity)) {
                        s->renewed_at = op->sent;
                        free(s->rv_seen);
                        s->rv_seen = xstrdup(r.resource_version);
                        s->observed = event_now_monotonic(h->d->event);
                        free(s->raw);
                        s->raw = xstrndup(res->body, res->body_len);
                        lease_record_done(&s->rec);
                        s->rec = r;
                        s->exists = true;
                        if (!h->releasing)
                                set_owned(h, op->shard, true,
                                          op->kind == OP_ACQUIRE ? op->from : NULL);
                } else {
                        lease_record_done(&r);
                }
        } else if (res->error == -ESTALE || res->error == -EEXIST) {
                /* someone else wrote it first: never act on a shard we may not hold */
                if (op->kind == OP_RENEW)
                        set_owned(h, op->shard, false, "renewal conflicted (409)");
        } else {
                log_warning("ha: %s of lease %s%u failed: %s",
                            op->kind == OP_ACQUIRE ? "takeover" : "renewal", SHARD_PREFIX,
                            op->shard, res->message ? res->message : strerror(-res->error));
        }
}

static void write_answered(struct ha *h, struct op *op, const struct kube_result *res)
{
        if (op->kind == OP_MEMBER) {
                member_written(h, op, res);
                free(op);
                return;
        }
        struct shard *s = &h->shards[op->shard];
        s->in_flight = false;
        if (res->error == -ECANCELED) {
                if (s->release_after) {
                        s->release_after = false;
                        release_one_done(h);
                }
                free(op);
                return;
        }
        if (op->kind == OP_RELEASE) {
                s->release_after = false; /* this answer is the release */
                release_one_done(h);
                free(op);
                return;
        }
        shard_written(h, op, res);
        unsigned shard = op->shard;
        free(op);
        release_deferred(h, shard);
}

static void on_write(const struct kube_result *res, void *userdata)
{
        struct op *op = userdata;
        struct ha *h = op->h;

        h->requests--;
        write_answered(h, op, res);
        release_check(h);
}

static void op_send(struct ha *h, unsigned i, enum op_kind kind)
{
        struct kube_client *k = h->d->kube;
        usec_t now = now_realtime_usec();
        struct lease_record r = {0};
        char name[64];
        const char *raw = NULL;
        bool exists;

        if (kind == OP_MEMBER) {
                snprintf(name, sizeof(name), "%s", "");
                /* on graceful stop the member Lease is released too, so that the others
                 * recompute their share at once */
                r.holder = h->releasing ? (char *)(uintptr_t) "" : h->identity;
                r.resource_version = h->member_rv;
                r.acquire_usec = r.renew_usec = now;
                r.duration_seconds = h->releasing ? 1 : (long)(h->duration / USEC_PER_SEC);
                r.shards = h->n_shards;
                raw = h->member_raw;
                exists = h->member_rv != NULL;
        } else {
                struct shard *s = &h->shards[i];
                snprintf(name, sizeof(name), SHARD_PREFIX "%u", i);
                r = s->rec; /* borrowed strings; not freed here */
                r.resource_version = s->exists ? s->rec.resource_version : NULL;
                r.renew_usec = now;
                r.duration_seconds = (long)(h->duration / USEC_PER_SEC);
                if (r.duration_seconds < 1)
                        r.duration_seconds = 1;
                if (kind == OP_ACQUIRE) {
                        if (!s->exists) {
                                r.transitions = 0;
                        } else if (!streq_ptr(s->rec.holder, h->identity)) {
                                r.transitions = s->rec.transitions + 1;
                        }
                        r.holder = h->identity;
                        r.acquire_usec = now;
                } else if (kind == OP_RELEASE) {
                        r.holder = (char *)(uintptr_t) "";
                        r.duration_seconds = 1;
                        r.acquire_usec = now;
                        set_owned(h, i, false, "released");
                }
                raw = s->exists ? s->raw : NULL;
                exists = s->exists;
                s->in_flight = true;
        }
        const char *lease_name = kind == OP_MEMBER ? h->member_name : name;
        char *json = lease_render(raw, h->ns, lease_name, &r);
        char *path = kube_lease_path(h->ns, exists ? lease_name : NULL);
        struct op *op = xmalloc(sizeof(*op));
        *op = (struct op){.h = h,
                          .shard = i,
                          .kind = kind,
                          .release = kind == OP_MEMBER && h->releasing,
                          .sent = event_now_monotonic(h->d->event)};
        if (kind == OP_ACQUIRE && exists && h->shards[i].rec.holder &&
            !streq_ptr(h->shards[i].rec.holder, h->identity))
                snprintf(op->from, sizeof(op->from), "%s", h->shards[i].rec.holder);
        int rc = !json || !path || !k ? -EINVAL
                 : exists             ? kube_put(k, path, json, on_write, op)
                                      : kube_post(k, path, json, on_write, op);
        if (rc < 0) {
                free(op);
                if (kind == OP_MEMBER)
                        h->member_in_flight = false;
                else
                        h->shards[i].in_flight = false;
                if (kind == OP_RELEASE || kind == OP_MEMBER)
                        release_one_done(h);
        } else {
                h->requests++;
                if (kind == OP_MEMBER)
                        h->member_in_flight = true;
        }
        free(json);
        free(path);
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static struct member *member_find(struct ha *h, const char *holder)
{
        for (size_t i = 0; i < h->n_members; i++)
                if (strcmp(h->members[i].holder, holder) == 0)
                        return &h->members[i];
        return NULL;
}

/* Which live members there are (us included) and our share of the shards: none while a live
 * member hashes canaries onto another shard count (ha.shards changed on some daemons and not yet
 * on others, or a daemon started with another file). Shard i of one count and shard j of the
 * other can hold the same canary, so both sides stand back until they agree; a member that
 * does not say (an older daemon) is taken to agree. */
static unsigned fair_share(struct ha *h, unsigned *ret_members)
{
        usec_t now = event_now_monotonic(h->d->event);
        const char **live = xcalloc(h->n_members + 1, sizeof(char *));
        const struct member *other = NULL;
        size_t n = 0;
        live[n++] = h->identity;
        for (size_t i = 0; i < h->n_members; i++) {
                struct member *m = &h->members[i];
                if (!m->seen || !*m->holder || strcmp(m->holder, h->identity) == 0)
                        continue;
                if (now < m->observed + (usec_t)m->duration * USEC_PER_SEC) {
                        live[n++] = m->holder;
                        if (m->shards && m->shards != h->n_shards && !other)
                                other = m;
                }
        }
        if (!other != !h->disagree) {
                if (other)
                        log_warning("ha: member %s hashes canaries onto %u shards, this daemon "
                                    "onto %u; holding no shard until every member has the same "
                                    "ha.shards",
                                    other->holder, other->shards, h->n_shards);
                else
                        log_notice("ha: every member hashes onto %u shards again", h->n_shards);
                h->disagree = other != NULL;
        }
        qsort(live, n, sizeof(char *), cmp_str);
        size_t k = 0;
        while (k < n && strcmp(live[k], h->identity) != 0)
                k++;
        free(live);
        *ret_members = (unsigned)n;
        if (h->disagree)
                return 0;
        return h->n_shards / (unsigned)n + (k < h->n_shards % n ? 1 : 0);
}

/* Notes when a Lease's record was last seen to change (resourceVersion rv): a Lease expires by
 * local observation, never by the clock of whoever wrote it. */
static void observe_version(char **rv_seen, usec_t *observed, const char *rv, usec_t now)
{
        if (streq_ptr(*rv_seen, rv))
                return;
        free(*rv_seen);
        *rv_seen = xstrdup(rv);
        *observed = now;
}

/* Shard i's Lease as listed: its record *r and item *raw are taken into the shard (and left
 * zeroed), unless our own write is in flight. */
static void list_shard(struct ha *h, unsigned i, struct lease_record *r, char **raw, usec_t now)
{
        struct shard *s = &h->shards[i];

        if (s->in_flight)
                return; /* our own write decides */
        observe_version(&s->rv_seen, &s->observed, r->resource_version, now);
        free(s->raw);
        s->raw = *raw;
        *raw = NULL;
        lease_record_done(&s->rec);
        s->rec = *r;
        *r = (struct lease_record){0};
        s->exists = true;
        if (s->owned && !streq_ptr(s->rec.holder, h->identity))
                set_owned(h, i, false, "another daemon holds it");
}

/* A member Lease as listed: ours (its item *raw taken, unless our write is in flight), or
 * another daemon's, seen alive as of its last change. */
/* A member Lease not renewed for this many of its durations belongs to a daemon that is gone
 * (killed, its host lost): any member deletes it, guarded by the resourceVersion it saw, so
 * that the Leases of dead daemons do not pile up. */
#define MEMBER_GONE_DURATIONS 5

struct member_delete {
        struct ha *h;
        char *holder; /* owned */
        char *name;   /* owned: the Lease */
};

static void on_member_deleted(const struct kube_result *res, void *userdata)
{
        struct member_delete *md = userdata;
        struct ha *h = md->h;
        struct member *m = res->error == -ECANCELED ? NULL : member_find(h, md->holder);

        if (m)
                m->deleting = false;
        if (res->error == 0)
                log_info("ha: removed the member Lease %s of %s, not renewed for %d lease "
                         "durations",
                         md->name, md->holder[0] ? md->holder : "a daemon that released it",
                         MEMBER_GONE_DURATIONS);
        else if (res->error != -ECANCELED && res->status != 404 && res->status != 409)
                /* 404: another member removed it; 409: renewed after all (or removed and
                 * made again) */
                log_warning("ha: cannot remove the member Lease %s: %s", md->name,
                            res->message ? res->message : strerror(-res->error));
        free(md->holder);
        free(md->name);
        free(md);
        h->requests--;
        release_check(h);
}

static void member_maybe_gone(struct ha *h, struct member *m, const struct lease_record *r,
                              usec_t now)
{
        usec_t gone = (usec_t)m->duration * MEMBER_GONE_DURATIONS * USEC_PER_SEC;
        if (m->deleting || m->duration <= 0 || now - m->observed < gone || !h->d->kube)
                return;
        char *path = kube_lease_path(h->ns, r->name);
        struct member_delete *md = xcalloc(1, sizeof(*md));
        *md = (struct member_delete){h, xstrdup(r->holder), xstrdup(r->name)};
        if (path &&
            kube_delete(h->d->kube, path, r->resource_version, on_member_deleted, md) >= 0) {
                m->deleting = true;
                h->requests++;
        } else {
                free(md->holder);
                free(md->name);
                free(md);
        }
        free(path);
}

static void list_member(struct ha *h, const struct lease_record *r, char **raw, usec_t now)
{
        if (strcmp(r->name, h->member_name) == 0) {
                if (!h->member_in_flight) {
                        free(h->member_rv);
                        h->member_rv = xstrdup(r->resource_version);
                        free(h->member_raw);
                        h->member_raw = *raw;
                        *raw = NULL;
                }
                return;
        }
        struct member *m = member_find(h, r->holder);
        if (!m) {
                h->members = xrealloc(h->members, (h->n_members + 1) * sizeof(*h->members));
                m = &h->members[h->n_members++];
                *m = (struct member){.holder = xstrdup(r->holder)};
        }
        observe_version(&m->rv, &m->observed, r->resource_version, now);
        m->duration = r->duration_seconds;
        m->shards = r->shards;
        m->seen = true;
        member_maybe_gone(h, m, r, now);
}

/* Takes in the n Leases listed (records and items; what is taken is left zeroed): the shards and
 * the members. A shard whose Lease is not listed no longer exists. */
static void list_apply(struct ha *h, struct lease_record *recs, char **raws, size_t n, usec_t now)
{
        bool *seen = xcalloc(h->n_shards, sizeof(bool));

        for (size_t i = 0; i < h->n_members; i++)
                h->members[i].seen = false;
        for (size_t j = 0; j < n; j++) {
                struct lease_record *r = &recs[j];
                char *end;
                if (strncmp(r->name, SHARD_PREFIX, strlen(SHARD_PREFIX)) == 0) {
                        unsigned long i = strtoul(r->name + strlen(SHARD_PREFIX), &end, 10);
                        if (*end || i >= h->n_shards)
                                continue;
                        seen[i] = true;
                        list_shard(h, (unsigned)i, r, &raws[j], now);
                } else if (strncmp(r->name, MEMBER_PREFIX, strlen(MEMBER_PREFIX)) == 0) {
                        list_member(h, r, &raws[j], now);
                }
        }
        for (unsigned i = 0; i < h->n_shards; i++)
                if (!seen[i] && !h->shards[i].in_flight) {
                        h->shards[i].exists = false;
                        if (h->shards[i].owned)
                                set_owned(h, i, false, "its lease was deleted");
                }
        free(seen);
}

/* Renews what we hold, releasing the highest-numbered shards above our share (target). Returns
 * how many we go on holding. */
static unsigned renew_held(struct ha *h, unsigned target)
{
        unsigned held = 0;

        for (unsigned i = 0; i < h->n_shards; i++)
                held += streq_ptr(h->shards[i].rec.holder, h->identity) && h->shards[i].exists;
        for (unsigned i = h->n_shards; i-- > 0;) {
                struct shard *s = &h->shards[i];
                if (s->in_flight || !s->exists || !streq_ptr(s->rec.holder, h->identity))
                        continue;
                if (held > target) {
                        held--;
                        op_send(h, i, OP_RELEASE);
                } else {
                        op_send(h, i, OP_RENEW);
                }
        }
        return held;
}

/* Takes free or expired shards while below our share (held of target), starting at a place that
 * depends on the identity so that daemons starting together collide less. */
static void acquire_free(struct ha *h, unsigned held, unsigned target, usec_t now)
{
        unsigned start = ha_shard_of(h->identity, "", h->n_shards);
        for (unsigned j = 0; j < h->n_shards && held < target; j++) {
                unsigned i = (start + j) % h->n_shards;
                struct shard *s = &h->shards[i];
                if (s->in_flight || (s->exists && streq_ptr(s->rec.holder, h->identity)))
                        continue;
                bool free_ = !s->exists || !s->rec.holder || !*s->rec.holder;
                bool expired = now >= s->observed + (usec_t)s->rec.duration_seconds * USEC_PER_SEC;
                if (free_ || expired) {
                        held++;
                        op_send(h, i, OP_ACQUIRE);
                }
        }
}

/* One round's LIST answered: take in the Leases, renew our member Lease, then renew, release and
 * acquire shards towards our share. */
static void list_answered(struct ha *h, const struct kube_result *res)
{
        struct lease_record *recs = NULL;
        char **raws = NULL;
        size_t n = 0;
        char *err = NULL;

        h->list_in_flight = false;
        if (res->error == -ECANCELED || h->releasing)
                return;
        if (res->error < 0) {
                if (!h->list_failing)
                        log_warning("ha: cannot list leases in %s: %s (holding shards until the "
                                    "renew deadline)",
                                    h->ns, res->message ? res->message : strerror(-res->error));
                h->list_failing = true;
                return;
        }
        if (lease_list_parse(res->body, res->body_len, &recs, &raws, &n, &err) < 0) {
                log_warning("ha: %s", err);
                free(err);
                return;
        }
        if (h->list_failing)
                log_notice("ha: listing leases works again");
        h->list_failing = false;
        usec_t now = event_now_monotonic(h->d->event);
        list_apply(h, recs, raws, n, now);
        for (size_t j = 0; j < n; j++) {
                lease_record_done(&recs[j]);
                free(raws[j]);
        }
        free(recs);
        free(raws);

        if (!h->member_in_flight)
                op_send(h, 0, OP_MEMBER);

        unsigned members;
        unsigned target = fair_share(h, &members);
        unsigned held = renew_held(h, target);
        acquire_free(h, held, target, now);
}

static void on_list(const struct kube_result *res, void *userdata)
{
        struct ha *h = userdata;

        h->requests--;
        list_answered(h, res);
        release_check(h);
}

static int on_round(sd_event_source *src, uint64_t usec, void *userdata)
{
        struct ha *h = userdata;
        /* Ownership lapses by time alone: check it every round. */
        for (unsigned i = 0; i < h->n_shards; i++)
                if (h->shards[i].owned && !shard_valid(h, &h->shards[i]))
                        set_owned(h, i, false, "not renewed within the renew deadline");
        if (!h->releasing && !h->list_in_flight && h->d->kube) {
                char *path = kube_lease_path(h->ns, NULL);
                if (path && kube_get(h->d->kube, path, on_list, h) >= 0) {
                        h->list_in_flight = true;
                        h->requests++;
                }
                free(path);
        }
        sd_event_source_set_time(src, usec + h->period);
        sd_event_source_set_enabled(src, SD_EVENT_ON);
        return 0;
}

static char *make_identity(void)
{
        char host[64] = "canaryd";
        gethostname(host, sizeof(host) - 1);
        host[sizeof(host) - 1] = '\0';
        /* a DNS label: it is part of the member Lease's name */
        size_t o = 0;
        for (size_t i = 0; host[i] && o < 40; i++) {
                char ch = host[i];
                if (ch >= 'A' && ch <= 'Z')
                        ch = (char)(ch - 'A' + 'a');
                if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-')
                        host[o++] = ch;
        }
        host[o] = '\0';
        uint32_t rnd = 0;
        if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
                rnd = (uint32_t)getpid() ^ (uint32_t)now_realtime_usec();
        return xasprintf("%s-%08x", o && host[0] != '-' ? host : "canaryd", rnd);
}

int ha_new(struct daemon *d, ha_shard_fn *on_shard, struct ha **ret)
{
        const struct config *cfg = d->config;
        struct ha *h = xcalloc(1, sizeof(*h));
        h->d = d;
        h->on_shard = on_shard;
        h->identity = make_identity();
        h->member_name = xasprintf(MEMBER_PREFIX "%s", h->identity);
        h->ns = xstrdup(cfg->ha.namespace_);
        h->n_shards = cfg->ha.shards ? cfg->ha.shards : 16;
        h->duration = cfg->ha.lease_duration_usec;
        if (h->duration < USEC_PER_SEC)
                h->duration = USEC_PER_SEC;
        /* client-go: LeaseDuration > RenewDeadline > 1.2 x RetryPeriod (15 s / 10 s / 2 s); a
         * period of 1/8 bounds a takeover by 1.25 x the lease duration */
        h->period = h->duration / 8;
        h->deadline = h->duration * 2 / 3;
        h->shards = xcalloc(h->n_shards, sizeof(*h->shards));
        int r = sd_event_add_time_relative(d->event, &h->timer, CLOCK_MONOTONIC, 0,
                                           10 * USEC_PER_MSEC, on_round, h);
        if (r < 0) {
                ha_free(h);
                return r;
        }
        kube_client_set_identity(d->kube, h->identity);
        log_notice("ha: identity %s, %u shards in namespace %s, lease duration %llu ms",
                   h->identity, h->n_shards, h->ns,
                   (unsigned long long)(h->duration / USEC_PER_MSEC));
        *ret = h;
        return 0;
}

void ha_release_all(struct ha *h, void (*done)(struct daemon *d))
{
        if (h->releasing)
                return;
        h->releasing = true;
        h->release_done = NULL;
        h->timer = sd_event_source_disable_unref(h->timer);
        /* A write in flight may be a takeover that makes the shard ours after this point (a
         * daemon stopping just after another released its shards): every such shard waits for
         * its answer and is released then if it turned out ours. */
        unsigned n = 0;
        for (unsigned i = 0; i < h->n_shards; i++)
                if (h->shards[i].in_flight ||
                    (h->shards[i].exists && streq_ptr(h->shards[i].rec.holder, h->identity)))
                        n++;
        h->release_pending = n + 1; /* +1 until every release is sent */
        for (unsigned i = 0; i < h->n_shards; i++) {
                struct shard *s = &h->shards[i];
                if (s->in_flight)
                        s->release_after = true; /* after its answer */
                else if (s->exists && streq_ptr(s->rec.holder, h->identity))
                        op_send(h, i, OP_RELEASE);
        }
        if (h->member_in_flight) {
                h->release_pending++; /* released once the renewal in flight is answered */
                h->member_release_after = true;
        } else if (h->member_rv) {
                h->release_pending++;
                op_send(h, 0, OP_MEMBER);
        }
        if (n > 0)
                log_notice("ha: releasing %u shard lease(s)", n);
        h->release_done = done;
        release_one_done(h); /* the +1: every release is sent */
}

struct ha *ha_free(struct ha *h)
{
        if (!h)
                return NULL;
        h->timer = sd_event_source_disable_unref(h->timer);
        for (unsigned i = 0; i < h->n_shards; i++) {
                free(h->shards[i].raw);
                free(h->shards[i].rv_seen);
                lease_record_done(&h->shards[i].rec);
        }
        for (size_t i = 0; i < h->n_members; i++) {
                free(h->members[i].holder);
                free(h->members[i].rv);
        }
        free(h->members);
        free(h->shards);
        free(h->identity);
        free(h->member_name);
        free(h->ns);
        free(h->member_raw);
        free(h->member_rv);
        free(h);
        return NULL;
}
