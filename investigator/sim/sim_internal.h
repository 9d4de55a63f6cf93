/* sim_internal.h - what the simulator's files share: the static topology
 * tables (sim_model.c) read by the generator (sim_gen.c). Nothing here is a
 * library interface. */
#ifndef FLYWHEEL_SIM_INTERNAL_H
#define FLYWHEEL_SIM_INTERNAL_H

#include <stddef.h>

#define SIM_MAX_CALLS 6
#define SIM_MAX_OPS   4

typedef enum sim_dep_kind {
    SIM_DEP_SQL,    /* postgresql, mysql, mongodb: db.* attributes */
    SIM_DEP_CACHE,  /* redis: db.system redis; failures are not fatal to the caller */
    SIM_DEP_DYNAMO, /* AWS SDK: rpc.system aws-api, rpc.service DynamoDB, db.system dynamodb */
    SIM_DEP_HTTP,   /* external HTTP API */
    SIM_DEP_LLM,    /* gen_ai.* */
    SIM_DEP_KAFKA   /* PRODUCER span; consumers are services with proto "consumer" */
} sim_dep_kind;

typedef enum sim_lang {
    SIM_LANG_JAVA,
    SIM_LANG_GO,
    SIM_LANG_PYTHON,
    SIM_LANG_NODE,
    SIM_LANG_DOTNET,
    SIM_LANG_RUST,
    SIM_LANG_COUNT
} sim_lang;

typedef struct sim_dep_def {
    const char *name; /* fault target and peer.service */
    sim_dep_kind kind;
    const char *system;  /* db.system / messaging.system / gen_ai.system */
    const char *address; /* server.address */
    int port;
    double ms; /* median latency */
} sim_dep_def;

/* A call from an operation: |target| is a service or a dependency name; |op|
 * the callee operation (service) or "OPERATION object" (dependency:
 * "SELECT orders", "GetItem Inventory", "POST /v1/charges", "chat gpt-4o",
 * topic name for kafka). */
typedef struct sim_call_def {
    const char *target;
    const char *op;
    double prob;
} sim_call_def;

typedef struct sim_op_def {
    const char *name;    /* "GET /api/cart" (http), "pkg.Svc/Method" (grpc), topic (consumer) */
    double self_ms;      /* median own time */
    double entry_weight; /* >0: an entry point of the application */
    sim_call_def calls[SIM_MAX_CALLS];
} sim_op_def;

typedef struct sim_service_def {
    const char *name;
    const char *proto; /* "http", "grpc" or "consumer" */
    sim_lang lang;
    const char *version;
    int pods;
    int old_semconv; /* emits http.method / http.status_code / net.peer.name */
    sim_op_def ops[SIM_MAX_OPS];
} sim_service_def;

typedef struct sim_topology_def {
    const char *name;
    const char *namespace_;
    const char *environment;
    const char *region;
    const sim_service_def *services;
    size_t n_services;
    const sim_dep_def *deps;
    size_t n_deps;
} sim_topology_def;

const sim_topology_def *fw__sim_topology_find(const char *name);
extern const char *const fw__sim_topology_names[];

/* Per-language exception texts. */
typedef struct sim_lang_def {
    const char *sdk_language;
    const char *npe_type, *npe_msg;         /* code error without a change */
    const char *deploy_type, *deploy_msg;   /* bad deployment */
    const char *noise_type, *noise_msg;     /* background errors */
    const char *refused_type, *refused_fmt; /* %s = host:port */
    const char *timeout_type, *timeout_msg;
    const char *upstream_type; /* a callee answered 5xx */
    const char *scope;         /* instrumentation scope name */
} sim_lang_def;

extern const sim_lang_def fw__sim_langs[SIM_LANG_COUNT];

#endif
