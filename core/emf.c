/* emf.c - CloudWatch Embedded Metric Format documents (see moonbase/emf.h). */
#include "moonbase/emf.h"

#include "moonbase/clock.h"
#include "moonbase/numfmt.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_NAMESPACE "ServerlessApp"
#define DEFAULT_ENVIRONMENT "dev"
#define UNMATCHED_ROUTE "UNMATCHED"
#define BUILTIN_COUNT 4
/* Escaped copies of strings whose raw form is bounded to 255 bytes: at most 2 bytes each. */
#define ESC_MAX (2 * MB_EMF_NAME_MAX)
/* CloudWatch Logs events are limited to 256 KB; documents are split well before that. A metric
 * costs at most COST_MAX bytes (its definition plus 100 values), so a document is at most
 * DOC_BUDGET + COST_MAX + the header. */
#define DOC_BUDGET (160 * 1024)
#define COST_MAX (2 * ESC_MAX + 64 + MB_EMF_VALUES_PER_METRIC * 26)
#define HEADER_MAX (8 * 1024)
#define DOC_CAP (DOC_BUDGET + COST_MAX + HEADER_MAX)

/* The CloudWatch MetricDatum units, which the EMF schema lists as valid. */
static const char *const s_units[] = {
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
};
#define UNIT_COUNT (sizeof s_units / sizeof s_units[0])

static const char *const s_reserved[] = {
    "Latency", "ColdStart", "Errors4xx", "Errors5xx", "Environment",
    "Route",   "requestId", "traceId",   "_aws",
};

typedef struct s_metric {
    uint32_t name_off;
    uint32_t name_len;
    uint32_t unit;
    uint32_t nvals;
    int32_t head, tail; /* value list */
} s_metric;

typedef struct s_value {
    double v;
    int32_t next;
} s_value;

struct mb_emf {
    int fd;
    char ns[MB_EMF_NAME_MAX + 1];
    char env[ESC_MAX + 1];
    char route[ESC_MAX + 1];
    char request_id[ESC_MAX + 1];
    char trace_id[ESC_MAX + 1];
    size_t ns_len, env_len, route_len, request_id_len, trace_id_len;
    size_t nmetrics, nvalues, names_len;
    s_metric metrics[MB_EMF_MAX_METRICS + BUILTIN_COUNT];
    s_value values[MB_EMF_MAX_VALUES + BUILTIN_COUNT];
    char names[(MB_EMF_MAX_METRICS + BUILTIN_COUNT) * MB_EMF_NAME_MAX];
    char doc[DOC_CAP];
};

/* ---- output ------------------------------------------------------------------------------- */

typedef struct s_out {
    char *p;
    size_t len, cap;
} s_out;

static void s_raw(s_out *o, const char *s, size_t n) {
    if (n <= o->cap - o->len) { /* cannot fail: DOC_CAP covers the worst document */
        memcpy(o->p + o->len, s, n);
        o->len += n;
    }
}

#define S_LIT(o, lit) s_raw((o), (lit), sizeof(lit) - 1)

static void s_int(s_out *o, int64_t v) {
    char tmp[MB_NUMFMT_MAX];
    s_raw(o, tmp, mb_numfmt_int(tmp, v));
}

/* Values are validated finite at put time. */
static void s_num(s_out *o, double v) {
    char tmp[MB_NUMFMT_MAX];
    s_raw(o, tmp, mb_numfmt_double(tmp, v));
}

/* Copy up to 255 bytes of `in` into dst as JSON string content: printable ASCII kept ('"' and
 * '\\' escaped), anything else replaced by '?'. Dimension values and ids stay plain ASCII. */
static size_t s_copy_ascii(char *dst, mb_cur in) {
    size_t n = in.len < MB_EMF_NAME_MAX ? in.len : MB_EMF_NAME_MAX, o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in.ptr[i];
        if (c == '"' || c == '\\') {
            dst[o++] = '\\';
        }
        dst[o++] = (c >= 0x20 && c < 0x7F) ? (char)c : '?';
    }
    dst[o] = '\0';
    return o;
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

static bool s_namespace_valid(const char *ns, size_t len) {
    if (len == 0 || len > MB_EMF_NAME_MAX) {
        return false;
    }
    bool nonspace = false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)ns[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  strchr(" ._#:/-", c) != NULL;
        if (!ok || c == '\0') {
            return false;
        }
        nonspace |= c != ' ';
    }
    return nonspace;
}

static bool s_printable(const char *s, size_t len) {
    bool nonspace = false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x7F) {
            return false;
        }
        nonspace |= c != ' ';
    }
    return nonspace;
}

mb_emf *mb_emf_new(const char *ns, const char *environment, int fd, mb_err *err) {
    ns = (ns && *ns) ? ns : DEFAULT_NAMESPACE;
    environment = (environment && *environment) ? environment : DEFAULT_ENVIRONMENT;
    size_t ns_len = strlen(ns), env_len = strlen(environment);
    if (!s_namespace_valid(ns, ns_len)) {
        mb_err_set(err, MB_ERR_CONFIG,
                   "METRICS_NAMESPACE must be 1..255 characters of A-Z a-z 0-9 space . _ # : / -");
        return NULL;
    }
    if (env_len > MB_EMF_NAME_MAX || !s_printable(environment, env_len)) {
        mb_err_set(err, MB_ERR_CONFIG, "ENVIRONMENT must be 1..255 printable ASCII characters");
        return NULL;
    }
    mb_emf *emf = calloc(1, sizeof *emf);
    if (!emf) {
        mb_err_set(err, MB_ERR_NOMEM, "emf: out of memory");
        return NULL;
    }
    emf->fd = fd;
    memcpy(emf->ns, ns, ns_len);
    emf->ns_len = ns_len;
    emf->env_len = s_copy_ascii(emf->env, (mb_cur){environment, env_len});
    mb_emf_begin(emf, (mb_cur){NULL, 0});
    return emf;
}

void mb_emf_free(mb_emf *emf) {
    free(emf);
}

void mb_emf_begin(mb_emf *emf, mb_cur route) {
    if (!emf) {
        return;
    }
    emf->nmetrics = emf->nvalues = emf->names_len = 0;
    emf->request_id_len = emf->trace_id_len = 0;
    if (route.len == 0) {
        route = MB_CUR_LIT(UNMATCHED_ROUTE);
    }
    emf->route_len = s_copy_ascii(emf->route, route);
}

void mb_emf_set_request(mb_emf *emf, mb_cur request_id, mb_cur trace_id) {
    if (!emf) {
        return;
    }
    emf->request_id_len = s_copy_ascii(emf->request_id, request_id);
    emf->trace_id_len = s_copy_ascii(emf->trace_id, trace_id);
}

/* ---- put ---------------------------------------------------------------------------------- */

static int s_unit_index(mb_cur unit) {
    if (unit.len == 0) {
        return (int)UNIT_COUNT - 1; /* None */
    }
    for (size_t i = 0; i < UNIT_COUNT; i++) {
        if (mb_cur_eq(unit, mb_cur_from_cstr(s_units[i]))) {
            return (int)i;
        }
    }
    return -1;
}

bool mb_emf_unit_valid(mb_cur unit) {
    return unit.len > 0 && s_unit_index(unit) >= 0;
}

static int s_check_name(mb_cur name, mb_err *err) {
    if (name.len == 0 || name.len > MB_EMF_NAME_MAX) {
        return mb_err_set(err, MB_ERR_INVALID, "metric name must be 1..%d bytes", MB_EMF_NAME_MAX);
    }
    if (!s_printable(name.ptr, name.len) || memchr(name.ptr, '"', name.len) ||
        memchr(name.ptr, '\\', name.len)) {
        return mb_err_set(err, MB_ERR_INVALID,
                          "metric name must be printable ASCII without quotes or backslashes");
    }
    for (size_t i = 0; i < sizeof s_reserved / sizeof s_reserved[0]; i++) {
        if (mb_cur_eq(name, mb_cur_from_cstr(s_reserved[i]))) {
            return mb_err_set(err, MB_ERR_INVALID, "metric name '%s' is reserved", s_reserved[i]);
        }
    }
    return 0;
}

static int s_check_value(double v, mb_err *err) {
    double a = fabs(v);
    if (!isfinite(v) || a > 1.174271e+108 || (v != 0 && a < 8.515920e-109)) {
        return mb_err_set(err, MB_ERR_INVALID,
                          "metric value must be finite, 0 or between 8.515920e-109 and "
                          "1.174271e+108 in magnitude");
    }
    return 0;
}

static s_metric *s_find(mb_emf *emf, mb_cur name) {
    for (size_t i = 0; i < emf->nmetrics; i++) {
        s_metric *m = &emf->metrics[i];
        if (mb_cur_eq(name, (mb_cur){emf->names + m->name_off, m->name_len})) {
            return m;
        }
    }
    return NULL;
}

/* Record without validation; the caller has checked names, units and room. */
static void s_add(mb_emf *emf, s_metric *m, mb_cur name, int unit, double value) {
    if (!m) {
        m = &emf->metrics[emf->nmetrics++];
        memcpy(emf->names + emf->names_len, name.ptr, name.len);
        *m = (s_metric){(uint32_t)emf->names_len, (uint32_t)name.len, (uint32_t)unit, 0, -1, -1};
        emf->names_len += name.len;
    }
    int32_t vi = (int32_t)emf->nvalues++;
    emf->values[vi] = (s_value){value, -1};
    if (m->tail >= 0) {
        emf->values[m->tail].next = vi;
    } else {
        m->head = vi;
    }
    m->tail = vi;
    m->nvals++;
}

int mb_emf_put(mb_emf *emf, mb_cur name, double value, mb_cur unit, mb_err *err) {
    if (!emf) {
        return mb_err_set(err, MB_ERR_INVALID, "metrics are not configured");
    }
    int rc = s_check_name(name, err);
    if (rc == 0) {
        rc = s_check_value(value, err);
    }
    if (rc != 0) {
        return rc;
    }
    int ui = s_unit_index(unit);
    if (ui < 0) {
        return mb_err_set(err, MB_ERR_INVALID,
                          "metric unit '%.*s' is not a CloudWatch unit (Count, Milliseconds, "
                          "Bytes, Percent, None...)",
                          (int)(unit.len > 40 ? 40 : unit.len), unit.ptr);
    }
    s_metric *m = s_find(emf, name);
    if (m && m->unit != (uint32_t)ui) {
        return mb_err_set(err, MB_ERR_INVALID, "metric '%.*s' was put with unit %s before",
                          (int)name.len, name.ptr, s_units[m->unit]);
    }
    if (!m && emf->nmetrics >= MB_EMF_MAX_METRICS) {
        return mb_err_set(err, MB_ERR_LIMIT, "more than %d metric names in one invocation",
                          MB_EMF_MAX_METRICS);
    }
    if (m && m->nvals >= MB_EMF_VALUES_PER_METRIC) {
        return mb_err_set(err, MB_ERR_LIMIT, "more than %d values for metric '%.*s'",
                          MB_EMF_VALUES_PER_METRIC, (int)name.len, name.ptr);
    }
    if (emf->nvalues >= MB_EMF_MAX_VALUES) {
        return mb_err_set(err, MB_ERR_LIMIT, "more than %d metric values in one invocation",
                          MB_EMF_MAX_VALUES);
    }
    s_add(emf, m, name, ui, value);
    return 0;
}

/* ---- finish ------------------------------------------------------------------------------- */

static size_t s_cost(const s_metric *m) {
    return 2 * (size_t)m->name_len + 64 + (size_t)m->nvals * 26;
}

static void s_doc_header(mb_emf *emf, s_out *o, int64_t ts) {
    S_LIT(o, "{\"_aws\":{\"Timestamp\":");
    s_int(o, ts);
    S_LIT(o, ",\"CloudWatchMetrics\":[{\"Namespace\":\"");
    s_raw(o, emf->ns, emf->ns_len);
    S_LIT(o, "\",\"Dimensions\":[[\"Environment\"],[\"Environment\",\"Route\"]],\"Metrics\":[");
}

/* One document for metrics [from, to): definitions, then dimension and metric members. */
static void s_write_doc(mb_emf *emf, size_t from, size_t to, int64_t ts) {
    s_out o = {emf->doc, 0, sizeof emf->doc};
    s_doc_header(emf, &o, ts);
    for (size_t i = from; i < to; i++) {
        const s_metric *m = &emf->metrics[i];
        if (i > from) {
            S_LIT(&o, ",");
        }
        S_LIT(&o, "{\"Name\":\"");
        s_raw(&o, emf->names + m->name_off, m->name_len);
        S_LIT(&o, "\",\"Unit\":\"");
        s_raw(&o, s_units[m->unit], strlen(s_units[m->unit]));
        S_LIT(&o, "\"}");
    }
    S_LIT(&o, "]}]},\"Environment\":\"");
    s_raw(&o, emf->env, emf->env_len);
    S_LIT(&o, "\",\"Route\":\"");
    s_raw(&o, emf->route, emf->route_len);
    S_LIT(&o, "\"");
    if (emf->request_id_len) {
        S_LIT(&o, ",\"requestId\":\"");
        s_raw(&o, emf->request_id, emf->request_id_len);
        S_LIT(&o, "\"");
    }
    if (emf->trace_id_len) {
        S_LIT(&o, ",\"traceId\":\"");
        s_raw(&o, emf->trace_id, emf->trace_id_len);
        S_LIT(&o, "\"");
    }
    for (size_t i = from; i < to; i++) {
        const s_metric *m = &emf->metrics[i];
        S_LIT(&o, ",\"");
        s_raw(&o, emf->names + m->name_off, m->name_len);
        S_LIT(&o, "\":");
        if (m->nvals > 1) {
            S_LIT(&o, "[");
        }
        for (int32_t v = m->head; v >= 0; v = emf->values[v].next) {
            if (v != m->head) {
                S_LIT(&o, ",");
            }
            s_num(&o, emf->values[v].v);
        }
        if (m->nvals > 1) {
            S_LIT(&o, "]");
        }
    }
    S_LIT(&o, "}\n");
    for (size_t off = 0; off < o.len;) {
        ssize_t w = write(emf->fd, o.p + off, o.len - off);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            break; /* metrics must never fail the request */
        }
        off += (size_t)w;
    }
}

/* Built-ins go first so the first document always carries them, then the handler's metrics.
 * Latency is kept to the microsecond, as durationMs on the access line. */
static void s_add_builtins(mb_emf *emf, int status, double latency_ms, bool cold_start) {
    size_t n = emf->nmetrics;
    /* shift the handler's metrics up by BUILTIN_COUNT (names and values stay where they are) */
    memmove(&emf->metrics[BUILTIN_COUNT], &emf->metrics[0], n * sizeof emf->metrics[0]);
    emf->nmetrics = 0;
    const char *names[BUILTIN_COUNT] = {"Latency", "ColdStart", "Errors4xx", "Errors5xx"};
    double vals[BUILTIN_COUNT] = {
        isfinite(latency_ms) && latency_ms > 0 ? round(latency_ms * 1000.0) / 1000.0 : 0,
        cold_start ? 1 : 0, status >= 400 && status < 500 ? 1 : 0, status >= 500 ? 1 : 0};
    for (int i = 0; i < BUILTIN_COUNT; i++) {
        mb_cur name = mb_cur_from_cstr(names[i]);
        s_add(emf, NULL, name, s_unit_index(mb_cur_from_cstr(i == 0 ? "Milliseconds" : "Count")),
              vals[i]);
    }
    emf->nmetrics = n + BUILTIN_COUNT;
}

void mb_emf_finish(mb_emf *emf, int status, double latency_ms, bool cold_start,
                   int64_t timestamp_ms) {
    if (!emf) {
        return;
    }
    int64_t ts = timestamp_ms > 0 ? timestamp_ms : mb_clock_now_ms(NULL);
    s_add_builtins(emf, status, latency_ms, cold_start);
    size_t from = 0, cost = 0;
    for (size_t i = 0; i < emf->nmetrics; i++) {
        size_t c = s_cost(&emf->metrics[i]);
        if (i > from && (i - from == MB_EMF_METRICS_PER_DOC || cost + c > DOC_BUDGET)) {
            s_write_doc(emf, from, i, ts);
            from = i;
            cost = 0;
        }
        cost += c;
    }
    s_write_doc(emf, from, emf->nmetrics, ts);
    mb_emf_begin(emf, (mb_cur){emf->route, 0});
}
