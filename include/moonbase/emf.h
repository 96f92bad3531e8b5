/* moonbase/emf.h - CloudWatch Embedded Metric Format: metrics collected during one invocation
 * and written as EMF JSON documents (one per line, one write(2) each) when it finishes.
 * Dimension sets are [Environment] and [Environment, Route]; every invocation reports Latency
 * (Milliseconds), ColdStart, Errors4xx and Errors5xx (Count), plus what the handler put.
 * A document holds at most 100 metric definitions (the spec's limit); more are split across
 * documents that repeat the dimensions. Names, units and values are validated at put time.
 * Ownership: mb_emf_new() returns a heap object released by mb_emf_free(); it copies the namespace,
 * environment, route, ids and metric names. All storage is allocated in mb_emf_new(), so an
 * invocation allocates nothing. One invocation at a time (not thread-safe). */
#ifndef MOONBASE_EMF_H
#define MOONBASE_EMF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "moonbase/buf.h"
#include "moonbase/err.h"

/* Spec limits (CloudWatch_Embedded_Metric_Format_Specification). */
#define MB_EMF_METRICS_PER_DOC 100
#define MB_EMF_VALUES_PER_METRIC 100
#define MB_EMF_NAME_MAX 255
/* Per-invocation bounds for handler metrics: a loop that puts metrics cannot grow memory. */
#define MB_EMF_MAX_METRICS 400
#define MB_EMF_MAX_VALUES 4000

typedef struct mb_emf mb_emf;

/* Create a collector. ns: METRICS_NAMESPACE (NULL or "" = "ServerlessApp"), 1..255 of
 * [A-Za-z0-9 ._#:/-]; environment: ENVIRONMENT (NULL or "" = "dev"), 1..255 printable ASCII.
 * fd is where documents go (not closed by mb_emf_free). Returns NULL with MB_ERR_CONFIG (bad
 * namespace or environment, message says which) or MB_ERR_NOMEM in err. */
mb_emf *mb_emf_new(const char *ns, const char *environment, int fd, mb_err *err);
/* Release. Accepts NULL. */
void mb_emf_free(mb_emf *emf);

/* Start an invocation: forget any metric from the last one and set the Route dimension
 * (a route template such as "GET /items/{id}"; empty = "UNMATCHED", so unrouted paths never
 * become dimension values; cut to 255 bytes; non-printable bytes become '?'). */
void mb_emf_begin(mb_emf *emf, mb_cur route);
/* Optional: add requestId and traceId to the documents as plain (non-dimension) members. */
void mb_emf_set_request(mb_emf *emf, mb_cur request_id, mb_cur trace_id);

/* Put a handler metric. name: 1..255 printable ASCII bytes (not '"' or '\\', at least one
 * non-space) and not one of the built-in or reserved names (Latency, ColdStart, Errors4xx,
 * Errors5xx, Environment, Route, requestId, traceId, _aws). unit: one of the EMF units
 * (Seconds, Microseconds, Milliseconds, Bytes, ... Count/Second, None); empty = "None".
 * value: finite, and 0 or of magnitude within CloudWatch's 8.515920e-109..1.174271e+108.
 * Putting the same name again adds a value (a distribution), with the same unit only.
 * Returns 0, MB_ERR_INVALID (bad name, unit or value; unit clash) or MB_ERR_LIMIT (more than
 * MB_EMF_MAX_METRICS names, MB_EMF_VALUES_PER_METRIC values for a name or MB_EMF_MAX_VALUES
 * values in all), with a message in err. Nothing is recorded on error. */
int mb_emf_put(mb_emf *emf, mb_cur name, double value, mb_cur unit, mb_err *err);

/* Add the built-in metrics and write the document(s), then forget the invocation. Call exactly
 * once per invocation, also when the handler failed (status 500). Errors4xx = 1 for a 4xx
 * status, Errors5xx = 1 for 5xx (else 0); ColdStart = 1 on the first invocation of the process.
 * timestamp_ms: epoch milliseconds (0 = now). Write errors are ignored. */
void mb_emf_finish(mb_emf *emf, int status, double latency_ms, bool cold_start,
                   int64_t timestamp_ms);

/* True when unit is one of the EMF / CloudWatch units (exact, case-sensitive). */
bool mb_emf_unit_valid(mb_cur unit);

#endif
