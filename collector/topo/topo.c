/* topo.c - the live service topology (SPEC 5): service and virtual nodes,
 * call and messaging edges, the client/server join in either arrival order
 * and the servicegraph-connector exposition. Owns the per-partition pending
 * tables, the partition-local node/edge caches, the global node/edge
 * registry and the producer link cache. Never keeps a pointer into a span:
 * pending entries copy the few fields a join needs; edge RED goes to fw_red. */
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "flywheel/topo.h"

#define NIL UINT32_MAX
/* Edge observations buffered before one fw_red_observe() call. */
#define OBS_BATCH 32u
/* Links of one consumer span looked at (a batch receive may link hundreds
 * of messages; the edge is the same for most of them). */
#define MAX_LINKS_PER_SPAN 8u
#define LINK_SHARDS        16u
#define LINK_SLOTS_MIN     64u
#define LINK_SLOTS_MAX     4096u
#define BROKER_NAME_MAX    256u
/* OTLP SpanFlags: bit 8 says whether bit 9 (parent is remote) is known. */
#define SPAN_FLAG_HAS_IS_REMOTE 0x100u
#define SPAN_FLAG_IS_REMOTE     0x200u

/* ---- small open-addressing map uint64 -> uint32 (no deletion) ----------- */

typedef struct idmap {
    uint64_t *keys; /* 0 = empty slot; keys are never 0 */
    uint32_t *vals;
    size_t cap; /* 0 or a power of two; n <= cap / 2 */
    size_t n;
} idmap;

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

static bool idmap_get(const idmap *m, uint64_t key, uint32_t *val)
{
    if (m->cap == 0) return false;
    size_t mask = m->cap - 1;
    for (size_t i = (size_t)mix64(key) & mask;; i = (i + 1) & mask) {
        if (m->keys[i] == key) {
            *val = m->vals[i];
            return true;
        }
        if (m->keys[i] == 0) return false;
    }
}

static void idmap_place(uint64_t *keys, uint32_t *vals, size_t cap, uint64_t key, uint32_t val)
{
    size_t mask = cap - 1;
    size_t i = (size_t)mix64(key) & mask;
    while (keys[i] != 0) i = (i + 1) & mask;
    keys[i] = key;
    vals[i] = val;
}

/* Inserts a key known to be absent. 0 or FW_ERR_NOMEM (map unchanged). */
static int idmap_put(idmap *m, uint64_t key, uint32_t val, uint64_t *mem)
{
    if ((m->n + 1) * 2 > m->cap) {
        size_t ncap = m->cap ? m->cap * 2 : 16;
        uint64_t *keys = calloc(ncap, sizeof *keys);
        uint32_t *vals = calloc(ncap, sizeof *vals);
        if (!keys || !vals) {
            free(keys);
            free(vals);
            return FW_ERR_NOMEM;
        }
        for (size_t i = 0; i < m->cap; i++)
            if (m->keys[i]) idmap_place(keys, vals, ncap, m->keys[i], m->vals[i]);
        free(m->keys);
        free(m->vals);
        *mem += (ncap - m->cap) * (sizeof *keys + sizeof *vals);
        m->keys = keys;
        m->vals = vals;
        m->cap = ncap;
    }
    idmap_place(m->keys, m->vals, m->cap, key, val);
    m->n++;
    return 0;
}

static void idmap_free(idmap *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

/* Grows |*arr| (elements of |elem| bytes) to hold |need|. 0 or NOMEM. */
static int array_reserve(void **arr, size_t *cap, size_t elem, size_t need, uint64_t *mem)
{
    if (need <= *cap) return 0;
    size_t ncap = *cap ? *cap * 2 : 16;
    while (ncap < need) ncap *= 2;
    void *p = realloc(*arr, ncap * elem);
    if (!p) return FW_ERR_NOMEM;
    *mem += (ncap - *cap) * elem;
    *arr = p;
    *cap = ncap;
    return 0;
}

/* ---- records ------------------------------------------------------------ */

/* One side of a call: what a join or a virtual-node attribution needs. */
typedef struct call_side {
    uint64_t start_ns;
    uint64_t end_ns;
    uint64_t duration_us;
    double weight;
    uint32_t service; /* intern id of the span's service */
    bool fault;
    bool client_error;
    bool throttled;
} call_side;

typedef enum pending_role {
    ROLE_CLIENT = 1,  /* keyed by its own span id, waits for a server child */
    ROLE_SERVER = 2,  /* keyed by its parent span id, waits for the client */
    ROLE_CONSUMER = 3 /* keyed by its parent span id, waits for the producer */
} pending_role;

typedef struct pending {
    uint8_t trace_id[FW_TRACE_ID_LEN];
    uint64_t key; /* span id of the client/producer side (bytes as loaded) */
    uint64_t arrival_ns;
    call_side side;
    uint32_t target; /* ROLE_CLIENT: virtual dependency node, 0 when none */
    uint32_t prev;   /* arrival order list; free list through next */
    uint32_t next;
    uint8_t role;
    uint8_t target_type; /* fw_node_type */
} pending;

/* Pending spans of one partition: a slab in arrival order (oldest at head)
 * and a linear-probing index on (trace id, key) with backward-shift
 * deletion. Invariant: index_cap >= 2 * cap, so probes stay short. */
typedef struct pending_table {
    pending *slab;
    uint32_t cap;
    uint32_t used; /* high-water mark of the slab */
    uint32_t count;
    uint32_t free_head;
    uint32_t head;
    uint32_t tail;
    uint32_t *index; /* slab index + 1; 0 = empty */
    size_t index_cap;
} pending_table;

typedef struct part_node {
    uint32_t name;
    uint32_t gidx; /* index in the global registry */
    uint32_t namespace_id;
    uint32_t environment_id;
    uint8_t type;
    uint64_t first_ns;
    uint64_t last_ns;
} part_node;

typedef struct part_edge {
    uint32_t gidx;
    uint64_t first_ns;
    uint64_t last_ns;
} part_edge;

/* One partition: everything here is under |lock|. */
typedef struct topo_part {
    pthread_mutex_t lock;
    pending_table pend;
    idmap node_map; /* name -> index in nodes */
    part_node *nodes;
    size_t n_nodes, cap_nodes;
    idmap edge_map; /* (source << 32 | target) -> index in edges */
    part_edge *edges;
    size_t n_edges, cap_edges;
    uint64_t joins, virtual_calls, evicted, dropped, unattributed, unpaired;
    uint64_t mem;
} topo_part;

/* Global registry: membership, types and the caps. Entries are never
 * removed, so indices are stable (partitions keep them). */
typedef struct graph_node {
    uint32_t name;
    uint32_t namespace_id;
    uint32_t environment_id;
    uint8_t type;
    uint64_t first_ns; /* at registration; partitions hold the rest */
    uint64_t last_ns;
} graph_node;

typedef struct graph_edge {
    uint32_t source, target;
    uint32_t source_node, target_node; /* graph_node indices */
    uint8_t kind;
    uint64_t first_ns;
    uint64_t last_ns;
} graph_edge;

/* Recent producer spans, for consumers that find their producer through
 * the parent id or a span link (possibly in another trace, so another
 * partition). Direct-mapped: a collision overwrites, which only loses an
 * old producer. */
typedef struct link_slot {
    uint8_t trace_id[FW_TRACE_ID_LEN];
    uint64_t span;
    uint32_t producer; /* service id; 0 = empty slot */
    uint32_t broker;   /* broker node id, 0 when the producer named none */
} link_slot;

typedef struct link_shard {
    pthread_mutex_t lock;
    link_slot *slots;
    size_t mask;
} link_shard;

struct fw_topo {
    fw_topo_config cfg;
    fw_intern *intern;
    fw_red *red;
    topo_part *parts;
    unsigned n_parts;

    pthread_mutex_t graph_lock; /* taken after a partition lock, never before */
    idmap gnode_map;
    graph_node *gnodes;
    size_t n_gnodes, cap_gnodes;
    idmap gedge_map;
    graph_edge *gedges;
    size_t n_gedges, cap_gedges;
    uint64_t graph_mem;

    link_shard links[LINK_SHARDS];
    uint64_t link_mem;
};

/* Work state of one observe/tick call on one partition (lock held). */
typedef struct observe_ctx {
    fw_topo *t;
    topo_part *p;
    unsigned partition;
    size_t n_obs;
    fw_red_obs obs[OBS_BATCH];
} observe_ctx;

/* ---- names -------------------------------------------------------------- */

const char *fw_node_type_name(fw_node_type t)
{
    switch (t) {
    case FW_NODE_SERVICE: return "service";
    case FW_NODE_DATABASE: return "database";
    case FW_NODE_CACHE: return "cache";
    case FW_NODE_MESSAGING: return "messaging";
    case FW_NODE_MODEL: return "model";
    case FW_NODE_EXTERNAL: return "external";
    }
    return "unknown";
}

static fw_node_type node_type_of_dep(fw_dep_type d)
{
    switch (d) {
    case FW_DEP_DATABASE: return FW_NODE_DATABASE;
    case FW_DEP_CACHE: return FW_NODE_CACHE;
    case FW_DEP_MESSAGING: return FW_NODE_MESSAGING;
    case FW_DEP_MODEL: return FW_NODE_MODEL;
    case FW_DEP_EXTERNAL:
    case FW_DEP_NONE: break;
    }
    return FW_NODE_EXTERNAL;
}

static bool str_present(fw_str s)
{
    return s.ptr != NULL && s.len > 0;
}

static uint64_t load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static uint64_t pend_hash(const uint8_t *trace_id, uint64_t key)
{
    return mix64(key ^ load64(trace_id + 8) ^ (load64(trace_id) * 31u));
}

/* ---- pending table ------------------------------------------------------ */

static size_t pend_home(const pending_table *pt, uint32_t idx)
{
    const pending *e = &pt->slab[idx];
    return (size_t)pend_hash(e->trace_id, e->key) & (pt->index_cap - 1);
}

static void pend_index_put(pending_table *pt, uint32_t idx)
{
    size_t mask = pt->index_cap - 1;
    size_t i = pend_home(pt, idx);
    while (pt->index[i] != 0) i = (i + 1) & mask;
    pt->index[i] = idx + 1;
}

static uint32_t pend_find(const pending_table *pt, const uint8_t *trace_id, uint64_t key,
                          pending_role role)
{
    if (pt->index_cap == 0 || pt->count == 0) return NIL;
    size_t mask = pt->index_cap - 1;
    for (size_t i = (size_t)pend_hash(trace_id, key) & mask;; i = (i + 1) & mask) {
        uint32_t v = pt->index[i];
        if (v == 0) return NIL;
        const pending *e = &pt->slab[v - 1];
        if (e->key == key && e->role == role && memcmp(e->trace_id, trace_id, FW_TRACE_ID_LEN) == 0)
            return v - 1;
    }
}

/* A free slab slot, growing the slab (and rebuilding the index) up to
 * |max|. 0, FW_ERR_TOO_LARGE or FW_ERR_NOMEM. */
static int pend_alloc(pending_table *pt, size_t max, uint64_t *mem, uint32_t *out)
{
    if (pt->free_head != NIL) {
        *out = pt->free_head;
        pt->free_head = pt->slab[*out].next;
        return 0;
    }
    if (pt->used == pt->cap) {
        size_t ncap = pt->cap ? (size_t)pt->cap * 2 : 64;
        if (ncap > max) ncap = max;
        if (ncap <= pt->cap) return FW_ERR_TOO_LARGE;
        size_t nidx = 16;
        while (nidx < ncap * 2) nidx *= 2;
        pending *slab = realloc(pt->slab, ncap * sizeof *slab);
        if (!slab) return FW_ERR_NOMEM;
        pt->slab = slab;
        uint32_t *index = calloc(nidx, sizeof *index);
        if (!index) {
            /* The bigger slab is kept (realloc moved it); cap stays. */
            return FW_ERR_NOMEM;
        }
        *mem += (ncap - pt->cap) * sizeof *slab + (nidx - pt->index_cap) * sizeof *index;
        free(pt->index);
        pt->index = index;
        pt->index_cap = nidx;
        pt->cap = (uint32_t)ncap;
        for (uint32_t i = pt->head; i != NIL; i = pt->slab[i].next) pend_index_put(pt, i);
    }
    *out = pt->used++;
    return 0;
}

/* Links slot |idx| (filled by the caller) at the tail and indexes it. */
static void pend_link(pending_table *pt, uint32_t idx)
{
    pending *e = &pt->slab[idx];
    e->prev = pt->tail;
    e->next = NIL;
    if (pt->tail != NIL)
        pt->slab[pt->tail].next = idx;
    else
        pt->head = idx;
    pt->tail = idx;
    pt->count++;
    pend_index_put(pt, idx);
}

static void pend_remove(pending_table *pt, uint32_t idx)
{
    size_t mask = pt->index_cap - 1;
    size_t i = pend_home(pt, idx);
    while (pt->index[i] != idx + 1) i = (i + 1) & mask;
    /* Backward-shift deletion keeps every probe chain unbroken. */
    pt->index[i] = 0;
    for (size_t j = (i + 1) & mask; pt->index[j] != 0; j = (j + 1) & mask) {
        size_t k = pend_home(pt, pt->index[j] - 1);
        bool stays = (i <= j) ? (i < k && k <= j) : (i < k || k <= j);
        if (stays) continue;
        pt->index[i] = pt->index[j];
        pt->index[j] = 0;
        i = j;
    }
    pending *e = &pt->slab[idx];
    if (e->prev != NIL)
        pt->slab[e->prev].next = e->next;
    else
        pt->head = e->next;
    if (e->next != NIL)
        pt->slab[e->next].prev = e->prev;
    else
        pt->tail = e->prev;
    e->role = 0;
    e->next = pt->free_head;
    pt->free_head = idx;
    pt->count--;
}

/* ---- graph registry ----------------------------------------------------- */

static void seen_merge(uint64_t *first, uint64_t *last, uint64_t f, uint64_t l)
{
    if (f && (*first == 0 || f < *first)) *first = f;
    if (l > *last) *last = l;
}

/* Registers (or upgrades) node |name| globally; its index in |*gidx|.
 * A service type wins over a virtual one (a peer.service name that turns
 * out to be instrumented). 0, FW_ERR_TOO_LARGE (max_nodes) or NOMEM. */
static int graph_node_register(fw_topo *t, uint32_t name, fw_node_type type, uint32_t ns,
                               uint32_t env, uint64_t first, uint64_t last, uint32_t *gidx)
{
    int rv = 0;
    uint32_t g;
    pthread_mutex_lock(&t->graph_lock);
    if (idmap_get(&t->gnode_map, name, &g)) {
        graph_node *n = &t->gnodes[g];
        if (type == FW_NODE_SERVICE) n->type = FW_NODE_SERVICE;
        if (ns && !n->namespace_id) n->namespace_id = ns;
        if (env && !n->environment_id) n->environment_id = env;
        *gidx = g;
        goto out;
    }
    if (t->n_gnodes >= t->cfg.max_nodes) {
        rv = FW_ERR_TOO_LARGE;
        goto out;
    }
    rv = array_reserve((void **)&t->gnodes, &t->cap_gnodes, sizeof *t->gnodes, t->n_gnodes + 1,
                       &t->graph_mem);
    if (rv) goto out;
    g = (uint32_t)t->n_gnodes;
    rv = idmap_put(&t->gnode_map, name, g, &t->graph_mem);
    if (rv) goto out;
    t->gnodes[g] = (graph_node){name, ns, env, (uint8_t)type, first, last};
    t->n_gnodes++;
    *gidx = g;
out:
    pthread_mutex_unlock(&t->graph_lock);
    return rv;
}

static int graph_edge_register(fw_topo *t, uint32_t source, uint32_t target, uint32_t snode,
                               uint32_t tnode, fw_edge_kind kind, uint64_t first, uint64_t last,
                               uint32_t *gidx)
{
    int rv = 0;
    uint64_t key = ((uint64_t)source << 32) | target;
    uint32_t g;
    pthread_mutex_lock(&t->graph_lock);
    if (idmap_get(&t->gedge_map, key, &g)) {
        *gidx = g;
        goto out;
    }
    if (t->n_gedges >= t->cfg.max_edges) {
        rv = FW_ERR_TOO_LARGE;
        goto out;
    }
    rv = array_reserve((void **)&t->gedges, &t->cap_gedges, sizeof *t->gedges, t->n_gedges + 1,
                       &t->graph_mem);
    if (rv) goto out;
    g = (uint32_t)t->n_gedges;
    rv = idmap_put(&t->gedge_map, key, g, &t->graph_mem);
    if (rv) goto out;
    t->gedges[g] = (graph_edge){source, target, snode, tnode, (uint8_t)kind, first, last};
    t->n_gedges++;
    *gidx = g;
out:
    pthread_mutex_unlock(&t->graph_lock);
    return rv;
}

/* Node |name| seen in [first, last]: partition cache first, the global
 * registry only when new here or when its type/namespace improves. Its
 * global index in |*gidx|. Nonzero when refused (counted). */
static int touch_node(observe_ctx *c, uint32_t name, fw_node_type type, uint32_t ns, uint32_t env,
                      uint64_t first, uint64_t last, uint32_t *gidx)
{
    topo_part *p = c->p;
    uint32_t li;
    if (name == FW_INTERN_NONE) {
        p->dropped++;
        return FW_ERR_NOT_FOUND;
    }
    if (idmap_get(&p->node_map, name, &li)) {
        part_node *n = &p->nodes[li];
        seen_merge(&n->first_ns, &n->last_ns, first, last);
        bool better = (type == FW_NODE_SERVICE && n->type != FW_NODE_SERVICE) ||
                      (ns && !n->namespace_id) || (env && !n->environment_id);
        if (better && graph_node_register(c->t, name, type, ns, env, first, last, &n->gidx) == 0) {
            if (type == FW_NODE_SERVICE) n->type = FW_NODE_SERVICE;
            if (ns && !n->namespace_id) n->namespace_id = ns;
            if (env && !n->environment_id) n->environment_id = env;
        }
        *gidx = n->gidx;
        return 0;
    }
    int rv = graph_node_register(c->t, name, type, ns, env, first, last, gidx);
    if (rv) {
        p->dropped++;
        return rv;
    }
    /* Without room in the cache the node is still registered globally;
     * only its partition-local first/last seen are lost. */
    if (array_reserve((void **)&p->nodes, &p->cap_nodes, sizeof *p->nodes, p->n_nodes + 1, &p->mem))
        return 0;
    if (idmap_put(&p->node_map, name, (uint32_t)p->n_nodes, &p->mem)) return 0;
    p->nodes[p->n_nodes++] = (part_node){name, *gidx, ns, env, (uint8_t)type, first, last};
    return 0;
}

static int touch_edge(observe_ctx *c, uint32_t source, uint32_t target, uint32_t snode,
                      uint32_t tnode, fw_edge_kind kind, uint64_t first, uint64_t last)
{
    topo_part *p = c->p;
    uint64_t key = ((uint64_t)source << 32) | target;
    uint32_t li, g;
    if (idmap_get(&p->edge_map, key, &li)) {
        seen_merge(&p->edges[li].first_ns, &p->edges[li].last_ns, first, last);
        return 0;
    }
    int rv = graph_edge_register(c->t, source, target, snode, tnode, kind, first, last, &g);
    if (rv) {
        p->dropped++;
        return rv;
    }
    if (array_reserve((void **)&p->edges, &p->cap_edges, sizeof *p->edges, p->n_edges + 1, &p->mem))
        return 0;
    if (idmap_put(&p->edge_map, key, (uint32_t)p->n_edges, &p->mem)) return 0;
    p->edges[p->n_edges++] = (part_edge){g, first, last};
    return 0;
}

/* ---- edge observations -------------------------------------------------- */

static void obs_flush(observe_ctx *c)
{
    if (c->n_obs == 0) return;
    fw_red_observe(c->t->red, c->partition, c->obs, c->n_obs);
    c->n_obs = 0;
}

/* An observed call |source| -> |target|: nodes and edge touched, RED
 * recorded with the client side's time, duration and weight. Server
 * duration 0 means no server span was seen. */
static void record_edge(observe_ctx *c, uint32_t source, fw_node_type stype, uint32_t target,
                        fw_node_type ttype, fw_edge_kind kind, const call_side *client,
                        uint64_t server_duration_us, bool fault, bool client_error, bool throttled,
                        const uint8_t *trace_id)
{
    uint32_t snode, tnode;
    /* Services are seen through their own spans; virtual nodes only here. */
    bool sv = stype != FW_NODE_SERVICE, tv = ttype != FW_NODE_SERVICE;
    if (touch_node(c, source, stype, 0, 0, sv ? client->start_ns : 0, sv ? client->end_ns : 0,
                   &snode))
        return;
    if (touch_node(c, target, ttype, 0, 0, tv ? client->start_ns : 0, tv ? client->end_ns : 0,
                   &tnode))
        return;
    if (touch_edge(c, source, target, snode, tnode, kind, client->start_ns, client->end_ns)) return;
    if (c->n_obs == OBS_BATCH) obs_flush(c);
    fw_red_obs *o = &c->obs[c->n_obs++];
    memset(o, 0, sizeof *o);
    o->key.kind = FW_RED_EDGE;
    o->key.span_kind = 0;
    o->key.a = source;
    o->key.b = target;
    o->time_ns = client->end_ns ? client->end_ns : client->start_ns;
    o->duration_us = client->duration_us;
    o->server_duration_us = server_duration_us;
    o->weight = client->weight;
    o->fault = fault;
    o->client_error = client_error;
    o->throttled = throttled;
    memcpy(o->trace_id, trace_id, FW_TRACE_ID_LEN);
}

/* Client span in one service, server span in another (or the same). */
static void join_call(observe_ctx *c, const call_side *client, const call_side *server,
                      const uint8_t *trace_id)
{
    record_edge(c, client->service, FW_NODE_SERVICE, server->service, FW_NODE_SERVICE, FW_EDGE_CALL,
                client, server->duration_us, client->fault || server->fault,
                client->client_error || server->client_error,
                client->throttled || server->throttled, trace_id);
    c->p->joins++;
}

/* A consumer span reached from its producer (or the broker the producer
 * wrote to): counted with the consumer's own duration, weight and verdict. */
static void join_consumer(observe_ctx *c, uint32_t producer, uint32_t broker,
                          const call_side *consumer, const uint8_t *trace_id)
{
    uint32_t source = broker ? broker : producer;
    fw_node_type stype = broker ? FW_NODE_MESSAGING : FW_NODE_SERVICE;
    record_edge(c, source, stype, consumer->service, FW_NODE_SERVICE, FW_EDGE_MESSAGING, consumer,
                consumer->duration_us, consumer->fault, consumer->client_error, consumer->throttled,
                trace_id);
    c->p->joins++;
}

/* What happens to a pending span whose wait is over (or that is flushed
 * early): a client becomes a call to its virtual dependency; servers and
 * consumers whose caller never showed up are forgotten. */
static void pend_settle(observe_ctx *c, const pending *e)
{
    if (e->role == ROLE_CLIENT) {
        if (e->target) {
            record_edge(c, e->side.service, FW_NODE_SERVICE, e->target,
                        (fw_node_type)e->target_type, FW_EDGE_CALL, &e->side, 0, e->side.fault,
                        e->side.client_error, e->side.throttled, e->trace_id);
            c->p->virtual_calls++;
        } else {
            c->p->unattributed++;
        }
    } else {
        c->p->unpaired++;
    }
}

static void pend_expire(observe_ctx *c, uint64_t now_ns)
{
    pending_table *pt = &c->p->pend;
    uint64_t wait = c->t->cfg.join_wait_ns;
    while (pt->head != NIL) {
        uint32_t idx = pt->head;
        const pending *e = &pt->slab[idx];
        if (now_ns < e->arrival_ns || now_ns - e->arrival_ns < wait) break;
        pend_settle(c, e);
        pend_remove(pt, idx);
    }
}

/* Adds |e| to the pending table; at max_pending the oldest entry is
 * settled early. Without memory |e| itself is settled now. */
static void pend_add(observe_ctx *c, const pending *e)
{
    pending_table *pt = &c->p->pend;
    uint32_t idx = pend_find(pt, e->trace_id, e->key, e->role);
    if (idx != NIL) {
        /* The same span again (an SDK retrying an export, or replayed ids):
         * one entry per key, so a retry neither counts twice nor grows a
         * probe chain of equal keys. The entry keeps its place (and its
         * arrival time) in the arrival-ordered list. */
        pending *d = &pt->slab[idx];
        uint32_t prev = d->prev, next = d->next;
        uint64_t arrival = d->arrival_ns;
        *d = *e;
        d->prev = prev;
        d->next = next;
        d->arrival_ns = arrival;
        return;
    }
    if (pt->count >= c->t->cfg.max_pending && pt->head != NIL) {
        idx = pt->head;
        pend_settle(c, &pt->slab[idx]);
        pend_remove(pt, idx);
        c->p->evicted++;
    }
    if (pend_alloc(pt, c->t->cfg.max_pending, &c->p->mem, &idx)) {
        pend_settle(c, e);
        c->p->evicted++;
        return;
    }
    pt->slab[idx] = *e;
    pend_link(pt, idx);
}

/* ---- link cache --------------------------------------------------------- */

static link_shard *link_locate(fw_topo *t, const uint8_t *trace_id, uint64_t span, size_t *slot)
{
    uint64_t h = mix64(span ^ load64(trace_id + 8));
    link_shard *s = &t->links[h % LINK_SHARDS];
    *slot = (size_t)(h / LINK_SHARDS) & s->mask;
    return s;
}

static void link_put(fw_topo *t, const uint8_t *trace_id, uint64_t span, uint32_t producer,
                     uint32_t broker)
{
    size_t i;
    link_shard *s = link_locate(t, trace_id, span, &i);
    pthread_mutex_lock(&s->lock);
    link_slot *l = &s->slots[i];
    memcpy(l->trace_id, trace_id, FW_TRACE_ID_LEN);
    l->span = span;
    l->producer = producer;
    l->broker = broker;
    pthread_mutex_unlock(&s->lock);
}

static bool link_get(fw_topo *t, const uint8_t *trace_id, uint64_t span, uint32_t *producer,
                     uint32_t *broker)
{
    size_t i;
    bool found = false;
    link_shard *s = link_locate(t, trace_id, span, &i);
    pthread_mutex_lock(&s->lock);
    const link_slot *l = &s->slots[i];
    if (l->producer && l->span == span && memcmp(l->trace_id, trace_id, FW_TRACE_ID_LEN) == 0) {
        *producer = l->producer;
        *broker = l->broker;
        found = true;
    }
    pthread_mutex_unlock(&s->lock);
    return found;
}

/* ---- span kinds --------------------------------------------------------- */

static uint32_t intern_or_none(fw_intern *in, fw_str s)
{
    return str_present(s) ? fw_intern_id(in, s) : FW_INTERN_NONE;
}

/* The broker node of a messaging span: "<system>/<destination>", else the
 * dependency name (an AWS SDK call to SQS names no messaging.system). */
static uint32_t broker_of(observe_ctx *c, const fw_span_class *cl)
{
    char name[BROKER_NAME_MAX];
    if (str_present(cl->messaging_system)) {
        size_t n = fw_semconv_broker_name(cl->messaging_system, cl->messaging_destination, name,
                                          sizeof name);
        return n ? fw_intern_id(c->t->intern, (fw_str){name, n}) : FW_INTERN_NONE;
    }
    return intern_or_none(c->t->intern, cl->dep_name);
}

static void observe_client(observe_ctx *c, const fw_span *s, const fw_span_class *cl,
                           const call_side *me, uint64_t now_ns)
{
    /* Databases, caches, models and brokers are never instrumented
     * servers: no point waiting for a server child. */
    bool immediate = cl->dep_type == FW_DEP_DATABASE || cl->dep_type == FW_DEP_CACHE ||
                     cl->dep_type == FW_DEP_MODEL || cl->dep_type == FW_DEP_MESSAGING ||
                     str_present(cl->db_system);
    if (immediate) {
        bool msg = cl->dep_type == FW_DEP_MESSAGING;
        uint32_t target = msg ? broker_of(c, cl) : intern_or_none(c->t->intern, cl->dep_name);
        if (!target) {
            c->p->unattributed++;
            return;
        }
        record_edge(c, me->service, FW_NODE_SERVICE, target, node_type_of_dep(cl->dep_type),
                    msg ? FW_EDGE_MESSAGING : FW_EDGE_CALL, me, 0, me->fault, me->client_error,
                    me->throttled, s->trace_id);
        c->p->virtual_calls++;
        return;
    }
    uint64_t key = load64(s->span_id);
    uint32_t idx = pend_find(&c->p->pend, s->trace_id, key, ROLE_SERVER);
    if (idx != NIL) {
        call_side server = c->p->pend.slab[idx].side;
        pend_remove(&c->p->pend, idx);
        join_call(c, me, &server, s->trace_id);
        return;
    }
    pending e;
    memset(&e, 0, sizeof e);
    memcpy(e.trace_id, s->trace_id, FW_TRACE_ID_LEN);
    e.key = key;
    e.arrival_ns = now_ns;
    e.side = *me;
    e.role = ROLE_CLIENT;
    e.target = intern_or_none(c->t->intern, cl->dep_name);
    e.target_type = (uint8_t)node_type_of_dep(cl->dep_type);
    pend_add(c, &e);
}

/* Is the parent of |s| known to be in the same process? (OTLP flags). */
static bool parent_is_local(const fw_span *s)
{
    return (s->flags & SPAN_FLAG_HAS_IS_REMOTE) && !(s->flags & SPAN_FLAG_IS_REMOTE);
}

static void observe_server(observe_ctx *c, const fw_span *s, const call_side *me, uint64_t now_ns)
{
    if (!s->has_parent || parent_is_local(s)) return; /* an entry point */
    uint64_t key = load64(s->parent_span_id);
    uint32_t idx = pend_find(&c->p->pend, s->trace_id, key, ROLE_CLIENT);
    if (idx != NIL) {
        call_side client = c->p->pend.slab[idx].side;
        pend_remove(&c->p->pend, idx);
        join_call(c, &client, me, s->trace_id);
        return;
    }
    pending e;
    memset(&e, 0, sizeof e);
    memcpy(e.trace_id, s->trace_id, FW_TRACE_ID_LEN);
    e.key = key;
    e.arrival_ns = now_ns;
    e.side = *me;
    e.role = ROLE_SERVER;
    pend_add(c, &e);
}

static void observe_producer(observe_ctx *c, const fw_span *s, const fw_span_class *cl,
                             const call_side *me)
{
    uint32_t broker = FW_INTERN_NONE;
    if (str_present(cl->messaging_system) || cl->dep_type == FW_DEP_MESSAGING) {
        broker = broker_of(c, cl);
        if (broker)
            record_edge(c, me->service, FW_NODE_SERVICE, broker, FW_NODE_MESSAGING,
                        FW_EDGE_MESSAGING, me, 0, me->fault, me->client_error, me->throttled,
                        s->trace_id);
    }
    uint64_t key = load64(s->span_id);
    link_put(c->t, s->trace_id, key, me->service, broker);
    /* Consumers that arrived first (several for a fan-out). */
    uint32_t idx;
    while ((idx = pend_find(&c->p->pend, s->trace_id, key, ROLE_CONSUMER)) != NIL) {
        call_side consumer = c->p->pend.slab[idx].side;
        pend_remove(&c->p->pend, idx);
        join_consumer(c, me->service, broker, &consumer, s->trace_id);
    }
}

static void observe_consumer(observe_ctx *c, const fw_span *s, const fw_span_class *cl,
                             const call_side *me, uint64_t now_ns)
{
    if (str_present(cl->messaging_system)) {
        /* Simplest and exact: the consumer names its broker itself. */
        uint32_t broker = broker_of(c, cl);
        if (broker)
            record_edge(c, broker, FW_NODE_MESSAGING, me->service, FW_NODE_SERVICE,
                        FW_EDGE_MESSAGING, me, me->duration_us, me->fault, me->client_error,
                        me->throttled, s->trace_id);
        return;
    }
    uint32_t seen[MAX_LINKS_PER_SPAN + 1];
    size_t n_seen = 0;
    uint32_t producer, broker;
    if (s->has_parent &&
        link_get(c->t, s->trace_id, load64(s->parent_span_id), &producer, &broker)) {
        seen[n_seen++] = broker ? broker : producer;
        join_consumer(c, producer, broker, me, s->trace_id);
    }
    for (size_t i = 0; i < s->n_links && i < MAX_LINKS_PER_SPAN; i++) {
        const fw_span_link *l = &s->links[i];
        if (!link_get(c->t, l->trace_id, load64(l->span_id), &producer, &broker)) continue;
        uint32_t source = broker ? broker : producer;
        bool dup = false;
        for (size_t j = 0; j < n_seen; j++) dup = dup || seen[j] == source;
        if (dup) continue;
        seen[n_seen++] = source;
        join_consumer(c, producer, broker, me, s->trace_id);
    }
    if (n_seen > 0 || !s->has_parent || parent_is_local(s)) return;
    pending e;
    memset(&e, 0, sizeof e);
    memcpy(e.trace_id, s->trace_id, FW_TRACE_ID_LEN);
    e.key = load64(s->parent_span_id);
    e.arrival_ns = now_ns;
    e.side = *me;
    e.role = ROLE_CONSUMER;
    pend_add(c, &e);
}

/* Service ids of the last resource seen: spans of one batch mostly share
 * a resource, so the intern lookups happen once per resource. */
typedef struct service_ids {
    const fw_resource *resource;
    uint32_t name, namespace_id, environment_id;
} service_ids;

static void service_ids_get(fw_intern *in, const fw_resource *r, service_ids *ids)
{
    if (ids->resource == r) return;
    ids->resource = r;
    fw_str name = str_present(r->service_name) ? r->service_name : FW_STR_LIT("unknown_service");
    ids->name = fw_intern_id(in, name);
    ids->namespace_id = intern_or_none(in, r->service_namespace);
    ids->environment_id = intern_or_none(in, r->environment);
}

void fw_topo_observe(fw_topo *t, unsigned partition, const fw_span *spans, const fw_span_class *cls,
                     const double *weights, size_t n, uint64_t now_ns)
{
    if (!t || n == 0 || !spans || !cls) return;
    unsigned pi = partition & (t->n_parts - 1);
    observe_ctx ctx; /* ~2.3 KiB of buffered observations */
    observe_ctx *c = &ctx;
    c->t = t;
    c->p = &t->parts[pi];
    c->partition = pi;
    c->n_obs = 0;
    service_ids ids = {0};

    pthread_mutex_lock(&c->p->lock);
    pend_expire(c, now_ns);
    for (size_t i = 0; i < n; i++) {
        const fw_span *s = &spans[i];
        const fw_span_class *cl = &cls[i];
        double w = weights ? weights[i] : 1.0;
        if (!(w >= 1.0) || isinf(w)) w = 1.0; /* NaN, < 1 or infinite: one span */
        if (!s->resource) continue;
        service_ids_get(t->intern, s->resource, &ids);
        call_side me = {s->start_ns,
                        s->end_ns,
                        fw_hist_duration_us(s->start_ns, s->end_ns),
                        w,
                        ids.name,
                        cl->is_fault,
                        cl->is_client_error,
                        cl->is_throttled};
        uint32_t g;
        if (touch_node(c, ids.name, FW_NODE_SERVICE, ids.namespace_id, ids.environment_id,
                       s->start_ns, s->end_ns, &g))
            continue;
        switch (s->kind) {
        case FW_SPAN_KIND_CLIENT: observe_client(c, s, cl, &me, now_ns); break;
        case FW_SPAN_KIND_SERVER: observe_server(c, s, &me, now_ns); break;
        case FW_SPAN_KIND_PRODUCER: observe_producer(c, s, cl, &me); break;
        case FW_SPAN_KIND_CONSUMER: observe_consumer(c, s, cl, &me, now_ns); break;
        case FW_SPAN_KIND_UNSPECIFIED:
        case FW_SPAN_KIND_INTERNAL: break;
        }
    }
    obs_flush(c);
    pthread_mutex_unlock(&c->p->lock);
}

void fw_topo_tick(fw_topo *t, uint64_t now_ns)
{
    if (!t) return;
    observe_ctx ctx;
    observe_ctx *c = &ctx;
    c->t = t;
    for (unsigned i = 0; i < t->n_parts; i++) {
        c->p = &t->parts[i];
        c->partition = i;
        c->n_obs = 0;
        pthread_mutex_lock(&c->p->lock);
        pend_expire(c, now_ns);
        obs_flush(c);
        pthread_mutex_unlock(&c->p->lock);
    }
}

/* ---- life --------------------------------------------------------------- */

int fw_topo_new(const fw_topo_config *cfg, fw_intern *intern, fw_red *red, fw_topo **out)
{
    int rv = FW_ERR_INVALID;
    unsigned inited_parts = 0, inited_links = 0;
    if (!cfg || !intern || !red || !out) return FW_ERR_INVALID;
    *out = NULL;
    if (cfg->partitions == 0 || (cfg->partitions & (cfg->partitions - 1)) != 0)
        return FW_ERR_INVALID;

    fw_topo *t = calloc(1, sizeof *t);
    if (!t) return FW_ERR_NOMEM;
    t->cfg = *cfg;
    if (t->cfg.max_pending == 0) t->cfg.max_pending = FW_TOPO_DEFAULT_MAX_PENDING;
    if (t->cfg.max_pending > NIL - 1) t->cfg.max_pending = NIL - 1;
    if (t->cfg.max_nodes == 0) t->cfg.max_nodes = FW_TOPO_DEFAULT_MAX_NODES;
    if (t->cfg.max_nodes > NIL - 1) t->cfg.max_nodes = NIL - 1;
    if (t->cfg.max_edges == 0) t->cfg.max_edges = FW_TOPO_DEFAULT_MAX_EDGES;
    if (t->cfg.max_edges > NIL - 1) t->cfg.max_edges = NIL - 1;
    t->intern = intern;
    t->red = red;
    t->n_parts = cfg->partitions;

    rv = FW_ERR_NOMEM;
    t->parts = calloc(t->n_parts, sizeof *t->parts);
    if (!t->parts) goto fail_parts;
    for (; inited_parts < t->n_parts; inited_parts++) {
        topo_part *p = &t->parts[inited_parts];
        if (pthread_mutex_init(&p->lock, NULL) != 0) goto fail_part_locks;
        p->pend.free_head = p->pend.head = p->pend.tail = NIL;
    }
    if (pthread_mutex_init(&t->graph_lock, NULL) != 0) goto fail_part_locks;

    /* Link cache: room for about the pending spans of all partitions. */
    size_t slots = LINK_SLOTS_MIN;
    size_t want = t->cfg.max_pending * t->n_parts / LINK_SHARDS;
    while (slots < want && slots < LINK_SLOTS_MAX) slots *= 2;
    for (; inited_links < LINK_SHARDS; inited_links++) {
        link_shard *s = &t->links[inited_links];
        s->slots = calloc(slots, sizeof *s->slots);
        if (!s->slots) goto fail_links;
        if (pthread_mutex_init(&s->lock, NULL) != 0) {
            free(s->slots);
            s->slots = NULL;
            goto fail_links;
        }
        s->mask = slots - 1;
        t->link_mem += slots * sizeof *s->slots;
    }
    *out = t;
    return 0;

fail_links:
    while (inited_links-- > 0) {
        pthread_mutex_destroy(&t->links[inited_links].lock);
        free(t->links[inited_links].slots);
    }
    pthread_mutex_destroy(&t->graph_lock);
fail_part_locks:
    while (inited_parts-- > 0) pthread_mutex_destroy(&t->parts[inited_parts].lock);
    free(t->parts);
fail_parts:
    free(t);
    return rv;
}

void fw_topo_free(fw_topo *t)
{
    if (!t) return;
    for (unsigned i = 0; i < t->n_parts; i++) {
        topo_part *p = &t->parts[i];
        free(p->pend.slab);
        free(p->pend.index);
        idmap_free(&p->node_map);
        idmap_free(&p->edge_map);
        free(p->nodes);
        free(p->edges);
        pthread_mutex_destroy(&p->lock);
    }
    free(t->parts);
    for (unsigned i = 0; i < LINK_SHARDS; i++) {
        pthread_mutex_destroy(&t->links[i].lock);
        free(t->links[i].slots);
    }
    idmap_free(&t->gnode_map);
    idmap_free(&t->gedge_map);
    free(t->gnodes);
    free(t->gedges);
    pthread_mutex_destroy(&t->graph_lock);
    free(t);
}

/* ---- snapshot and stats ------------------------------------------------- */

int fw_topo_snapshot_get(fw_topo *t, fw_topo_snapshot *out)
{
    if (!t || !out) return FW_ERR_INVALID;
    memset(out, 0, sizeof *out);
    fw_topo_node *nodes = NULL;
    fw_topo_edge *edges = NULL;
    size_t nn, ne;

    /* Membership and types from the registry, then the first/last seen of
     * every partition merged in (partition locks are taken after the graph
     * lock is released: the lock order is partition, then graph). */
    pthread_mutex_lock(&t->graph_lock);
    nn = t->n_gnodes;
    ne = t->n_gedges;
    nodes = calloc(nn ? nn : 1, sizeof *nodes);
    edges = calloc(ne ? ne : 1, sizeof *edges);
    if (!nodes || !edges) {
        pthread_mutex_unlock(&t->graph_lock);
        free(nodes);
        free(edges);
        return FW_ERR_NOMEM;
    }
    for (size_t i = 0; i < nn; i++) {
        const graph_node *g = &t->gnodes[i];
        nodes[i] = (fw_topo_node){g->name,           (fw_node_type)g->type, g->namespace_id,
                                  g->environment_id, g->first_ns,           g->last_ns};
    }
    for (size_t i = 0; i < ne; i++) {
        const graph_edge *g = &t->gedges[i];
        edges[i] = (fw_topo_edge){g->source,
                                  g->target,
                                  nodes[g->source_node].type,
                                  nodes[g->target_node].type,
                                  (fw_edge_kind)g->kind,
                                  g->first_ns,
                                  g->last_ns};
    }
    pthread_mutex_unlock(&t->graph_lock);

    for (unsigned pi = 0; pi < t->n_parts; pi++) {
        topo_part *p = &t->parts[pi];
        pthread_mutex_lock(&p->lock);
        for (size_t i = 0; i < p->n_nodes; i++) {
            const part_node *n = &p->nodes[i];
            if (n->gidx < nn)
                seen_merge(&nodes[n->gidx].first_seen_ns, &nodes[n->gidx].last_seen_ns, n->first_ns,
                           n->last_ns);
        }
        for (size_t i = 0; i < p->n_edges; i++) {
            const part_edge *e = &p->edges[i];
            if (e->gidx < ne)
                seen_merge(&edges[e->gidx].first_seen_ns, &edges[e->gidx].last_seen_ns, e->first_ns,
                           e->last_ns);
        }
        pthread_mutex_unlock(&p->lock);
    }
    out->nodes = nodes;
    out->n_nodes = nn;
    out->edges = edges;
    out->n_edges = ne;
    return 0;
}

void fw_topo_snapshot_free(fw_topo_snapshot *s)
{
    if (!s) return;
    free(s->nodes);
    free(s->edges);
    memset(s, 0, sizeof *s);
}

void fw_topo_get_stats(fw_topo *t, fw_topo_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!t) return;
    out->memory_used = sizeof *t + t->n_parts * sizeof *t->parts + t->link_mem;
    for (unsigned i = 0; i < t->n_parts; i++) {
        topo_part *p = &t->parts[i];
        pthread_mutex_lock(&p->lock);
        out->joins += p->joins;
        out->virtual_calls += p->virtual_calls;
        out->pending += p->pend.count;
        out->pending_evicted += p->evicted;
        out->dropped += p->dropped;
        out->unattributed += p->unattributed;
        out->unpaired += p->unpaired;
        out->memory_used += p->mem;
        pthread_mutex_unlock(&p->lock);
    }
    pthread_mutex_lock(&t->graph_lock);
    out->nodes = t->n_gnodes;
    out->edges = t->n_gedges;
    out->memory_used += t->graph_mem;
    pthread_mutex_unlock(&t->graph_lock);
}

/* ---- Prometheus --------------------------------------------------------- */

/* One edge's lifetime figures, copied out of fw_red's visit. */
typedef struct prom_edge {
    uint32_t source, target;
    double requests;
    double failed;
    uint64_t client_count, client_sum_us;
    uint64_t server_count, server_sum_us;
    uint64_t client_cum[FW_HIST_PROM_NBOUNDS];
    uint64_t server_cum[FW_HIST_PROM_NBOUNDS];
    const char *connection_type;
} prom_edge;

typedef struct prom_collect {
    prom_edge *edges;
    size_t n, cap;
    uint64_t mem; /* unused, array_reserve wants one */
    int err;
} prom_collect;

static int prom_visit(void *ctx, const fw_red_key *key, const fw_red_totals *tot)
{
    prom_collect *pc = ctx;
    if (array_reserve((void **)&pc->edges, &pc->cap, sizeof *pc->edges, pc->n + 1, &pc->mem)) {
        pc->err = FW_ERR_NOMEM;
        return 1;
    }
    prom_edge *e = &pc->edges[pc->n++];
    const uint64_t *bounds = fw_hist_prom_bounds_us();
    e->source = key->a;
    e->target = key->b;
    e->requests = tot->requests;
    e->failed = tot->faults;
    e->client_count = fw_hist_count(&tot->latency);
    e->client_sum_us = fw_hist_sum(&tot->latency);
    e->server_count = fw_hist_count(&tot->server_latency);
    e->server_sum_us = fw_hist_sum(&tot->server_latency);
    fw_hist_cumulative(&tot->latency, bounds, FW_HIST_PROM_NBOUNDS, e->client_cum);
    fw_hist_cumulative(&tot->server_latency, bounds, FW_HIST_PROM_NBOUNDS, e->server_cum);
    e->connection_type = "";
    return 0;
}

/* servicegraph connector connection_type of an edge, by node types. */
static const char *connection_type_of(fw_node_type s, fw_node_type d)
{
    if (s == FW_NODE_MESSAGING || d == FW_NODE_MESSAGING) return "messaging_system";
    if (d == FW_NODE_DATABASE || d == FW_NODE_CACHE) return "database";
    if (d == FW_NODE_SERVICE && s == FW_NODE_SERVICE) return "";
    return "virtual_node";
}

static int prom_label_value(fw_buf *out, fw_str v)
{
    for (size_t i = 0; i < v.len; i++) {
        char ch = v.ptr[i];
        int rv;
        if (ch == '\\')
            rv = fw_buf_append(out, "\\\\", 2);
        else if (ch == '"')
            rv = fw_buf_append(out, "\\\"", 2);
        else if (ch == '\n')
            rv = fw_buf_append(out, "\\n", 2);
        else
            rv = fw_buf_append(out, &ch, 1);
        if (rv) return rv;
    }
    return 0;
}

static fw_str node_label(const fw_intern *in, uint32_t id)
{
    if (id == FW_RED_OVERFLOW_ID) return FW_STR_LIT("_overflow");
    fw_str s = fw_intern_str(in, id);
    return s.ptr ? s : FW_STR_LIT("unknown");
}

static int prom_labels(fw_buf *out, const fw_intern *in, const prom_edge *e, const char *le)
{
    int rv = fw_buf_append_str(out, "{client=\"");
    if (!rv) rv = prom_label_value(out, node_label(in, e->source));
    if (!rv) rv = fw_buf_append_str(out, "\",server=\"");
    if (!rv) rv = prom_label_value(out, node_label(in, e->target));
    if (!rv) rv = fw_buf_printf(out, "\",connection_type=\"%s\"", e->connection_type);
    if (!rv && le) rv = fw_buf_printf(out, ",le=\"%s\"", le);
    if (!rv) rv = fw_buf_append_str(out, "}");
    return rv;
}

static int prom_counter(fw_buf *out, const fw_intern *in, const prom_collect *pc, const char *name,
                        const char *help, bool failed)
{
    int rv = fw_buf_printf(out, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
    for (size_t i = 0; !rv && i < pc->n; i++) {
        const prom_edge *e = &pc->edges[i];
        rv = fw_buf_append_str(out, name);
        if (!rv) rv = prom_labels(out, in, e, NULL);
        if (!rv) rv = fw_buf_printf(out, " %.15g\n", failed ? e->failed : e->requests);
    }
    return rv;
}

static int prom_histogram(fw_buf *out, const fw_intern *in, const prom_collect *pc,
                          const char *name, const char *help, bool server)
{
    int rv = fw_buf_printf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    for (size_t i = 0; !rv && i < pc->n; i++) {
        const prom_edge *e = &pc->edges[i];
        uint64_t count = server ? e->server_count : e->client_count;
        uint64_t sum_us = server ? e->server_sum_us : e->client_sum_us;
        const uint64_t *cum = server ? e->server_cum : e->client_cum;
        if (server && count == 0) continue; /* no server span was ever joined */
        for (size_t b = 0; !rv && b < FW_HIST_PROM_NBOUNDS; b++) {
            rv = fw_buf_printf(out, "%s_bucket", name);
            if (!rv) rv = prom_labels(out, in, e, fw_hist_prom_bound_label(b));
            if (!rv) rv = fw_buf_printf(out, " %" PRIu64 "\n", cum[b]);
        }
        if (!rv) rv = fw_buf_printf(out, "%s_bucket", name);
        if (!rv) rv = prom_labels(out, in, e, "+Inf");
        if (!rv) rv = fw_buf_printf(out, " %" PRIu64 "\n%s_sum", count, name);
        if (!rv) rv = prom_labels(out, in, e, NULL);
        if (!rv) rv = fw_buf_printf(out, " %.6f\n%s_count", (double)sum_us / 1e6, name);
        if (!rv) rv = prom_labels(out, in, e, NULL);
        if (!rv) rv = fw_buf_printf(out, " %" PRIu64 "\n", count);
    }
    return rv;
}

int fw_topo_render_prometheus(fw_topo *t, fw_buf *out)
{
    if (!t || !out) return FW_ERR_INVALID;
    prom_collect pc = {0};
    int rv = 0;
    fw_red_foreach_lifetime(t->red, FW_RED_EDGE, prom_visit, &pc);
    if (pc.err) {
        rv = pc.err;
        goto out;
    }
    /* Node types after the visit: fw_red's locks are never held with ours. */
    pthread_mutex_lock(&t->graph_lock);
    for (size_t i = 0; i < pc.n; i++) {
        prom_edge *e = &pc.edges[i];
        uint32_t gs, gd;
        bool hs = idmap_get(&t->gnode_map, e->source, &gs);
        bool hd = e->target != FW_RED_OVERFLOW_ID && idmap_get(&t->gnode_map, e->target, &gd);
        if (hs && hd)
            e->connection_type = connection_type_of((fw_node_type)t->gnodes[gs].type,
                                                    (fw_node_type)t->gnodes[gd].type);
        else
            e->connection_type = e->target == FW_RED_OVERFLOW_ID ? "" : "virtual_node";
    }
    pthread_mutex_unlock(&t->graph_lock);

    if (pc.n > 0) {
        rv = prom_counter(out, t->intern, &pc, "traces_service_graph_request_total",
                          "Requests between two nodes (client -> server).", false);
        if (!rv)
            rv = prom_counter(out, t->intern, &pc, "traces_service_graph_request_failed_total",
                              "Failed requests between two nodes (faults).", true);
        if (!rv)
            rv = prom_histogram(out, t->intern, &pc, "traces_service_graph_request_server_seconds",
                                "Server-side duration of requests between two nodes.", true);
        if (!rv)
            rv = prom_histogram(out, t->intern, &pc, "traces_service_graph_request_client_seconds",
                                "Client-side duration of requests between two nodes.", false);
        if (rv) goto out;
    }

    /* The topology's own gauges (flywheel_topology_*) are exported by the
     * API next to the other self-metrics, once. */
out:
    free(pc.edges);
    return rv;
}
