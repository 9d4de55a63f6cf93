/* topo.h - the live service topology (SPEC 5): service nodes, virtual nodes
 * for uninstrumented dependencies, and edges. A client span in A whose
 * child server span is in B makes the edge A -> B; both spans of a call
 * share a trace id, so joins happen inside one trace-id partition, in
 * either arrival order, within a bounded wait. A client span that finds no
 * server child within the wait is an edge to its virtual dependency (named
 * by fw_semconv). Producer -> consumer edges go through the broker node
 * (parent/child and span links). Edge RED is recorded in fw_red. */
#ifndef FLYWHEEL_TOPO_H
#define FLYWHEEL_TOPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "flywheel/buf.h"
#include "flywheel/error.h"
#include "flywheel/intern.h"
#include "flywheel/model.h"
#include "flywheel/red.h"
#include "flywheel/semconv.h"

typedef enum fw_node_type {
    FW_NODE_SERVICE = 0,
    FW_NODE_DATABASE,
    FW_NODE_CACHE,
    FW_NODE_MESSAGING,
    FW_NODE_MODEL,
    FW_NODE_EXTERNAL
} fw_node_type;
const char *fw_node_type_name(fw_node_type t); /* "service", "database", ... */

typedef struct fw_topo_config {
    uint64_t join_wait_ns; /* how long a client span waits for its server child (arrival time) */
    size_t max_pending;    /* unjoined spans kept per partition; oldest flushed beyond */
    size_t max_nodes;
    size_t max_edges;
    unsigned partitions;   /* power of two, same as the store's */
} fw_topo_config;
/* Used for zero max_pending / max_nodes / max_edges (added). */
#define FW_TOPO_DEFAULT_MAX_PENDING 65536u
#define FW_TOPO_DEFAULT_MAX_NODES   10000u
#define FW_TOPO_DEFAULT_MAX_EDGES   100000u

typedef struct fw_topo fw_topo;

/* Borrows |intern| and |red| for its life. */
FW_WUR int fw_topo_new(const fw_topo_config *cfg, fw_intern *intern, fw_red *red, fw_topo **out);
void fw_topo_free(fw_topo *t);

/* Observes spans of one partition (all spans[i] hash to |partition|).
 * |cls[i]| classifies spans[i]; |weights[i]| is its adjusted count (>= 1).
 * |now_ns| is the arrival clock used for the join wait. */
void fw_topo_observe(fw_topo *t, unsigned partition, const fw_span *spans,
                     const fw_span_class *cls, const double *weights, size_t n, uint64_t now_ns);
/* Flushes pending client spans whose wait has passed (edges to virtual
 * nodes) and forgets unmatched server spans. Cheap when nothing is due. */
void fw_topo_tick(fw_topo *t, uint64_t now_ns);

typedef struct fw_topo_node {
    uint32_t name;        /* intern id */
    fw_node_type type;
    uint32_t namespace_id;   /* service.namespace intern id, 0 when none (services only) */
    uint32_t environment_id; /* deployment.environment intern id, 0 when none */
    uint64_t first_seen_ns;  /* event time */
    uint64_t last_seen_ns;
} fw_topo_node;

typedef enum fw_edge_kind { FW_EDGE_CALL = 0, FW_EDGE_MESSAGING = 1 } fw_edge_kind;

typedef struct fw_topo_edge {
    uint32_t source; /* node name intern ids; RED under key {FW_RED_EDGE, 0, source, target} */
    uint32_t target;
    fw_node_type source_type;
    fw_node_type target_type;
    fw_edge_kind kind;
    uint64_t first_seen_ns;
    uint64_t last_seen_ns;
} fw_topo_edge;

typedef struct fw_topo_snapshot {
    fw_topo_node *nodes;
    size_t n_nodes;
    fw_topo_edge *edges;
    size_t n_edges;
} fw_topo_snapshot;

/* A consistent copy of all nodes and edges; free with
 * fw_topo_snapshot_free. 0 or FW_ERR_NOMEM. */
FW_WUR int fw_topo_snapshot_get(fw_topo *t, fw_topo_snapshot *out);
void fw_topo_snapshot_free(fw_topo_snapshot *s);

typedef struct fw_topo_stats {
    uint64_t nodes;
    uint64_t edges;
    uint64_t joins;          /* client/server pairs joined */
    uint64_t virtual_calls;  /* client spans attributed to virtual nodes */
    uint64_t pending;        /* spans waiting for a join */
    uint64_t pending_evicted;/* flushed early because max_pending was reached */
    uint64_t memory_used;
    /* Added: nodes/edges refused by max_nodes / max_edges or a full intern
     * table (their observations are dropped); client spans whose wait passed
     * with nothing naming the callee; server/consumer spans forgotten
     * because their caller never showed up (uninstrumented caller). */
    uint64_t dropped;
    uint64_t unattributed;
    uint64_t unpaired;
} fw_topo_stats;
void fw_topo_get_stats(fw_topo *t, fw_topo_stats *out);

/* Appends the servicegraph-connector-style series of every edge, lifetime
 * counts from fw_red_foreach_lifetime (traces_service_graph_request_total,
 * ..._request_failed_total, ..._request_server_seconds and
 * ..._request_client_seconds histograms; labels client, server,
 * connection_type: "" for service -> service, "virtual_node", "database",
 * "messaging_system") in Prometheus text format. */
FW_WUR int fw_topo_render_prometheus(fw_topo *t, fw_buf *out);

#endif
