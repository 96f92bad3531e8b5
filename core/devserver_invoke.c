/* devserver_invoke.c - the Lambda Invoke API's request checks and answers, as the Lambda service
 * gives them (status codes, error type header, error documents). */
#include "moonbase/devserver_invoke.h"

#include "moonbase/devserver_apigw.h"
#include "moonbase/text.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A service error: x-amzn-ErrorType names it, the body carries Type and message, as Lambda's
 * REST-JSON errors do (the AWS CLI reads the header for the code and the body for the text). */
static bool s_service_error(mb_invoke_answer *ans, int status, const char *type, const char *msg,
                            mb_cur detail) {
    ans->status = status;
    ans->error_type = type;
    json_t *doc = json_pack("{s:s, s:s%}", "Type", "User", "message", "", (size_t)0);
    mb_buf text = {0};
    if (mb_buf_append_cstr(&text, msg) == 0 && mb_buf_append_cur(&text, detail) == 0 &&
        mb_text_utf8_valid(mb_buf_cur(&text)) && doc != NULL) {
        json_object_set_new(doc, "message", json_stringn(text.ptr, text.len));
    }
    char *out = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    if (out == NULL || mb_buf_append_cstr(&ans->body, out) != 0) {
        ans->status = 500;
    }
    free(out);
    json_decref(doc);
    mb_buf_cleanup(&text);
    return false;
}

/* The function part of the path: "NAME", "NAME:QUALIFIER" or an ARN "...:function:NAME[:Q]". */
static bool s_name_ok(const mb_invoke_target *t, mb_cur name) {
    static const char arn_mark[] = ":function:";
    for (size_t i = 0; i + sizeof arn_mark - 1 <= name.len; i++) {
        if (memcmp(name.ptr + i, arn_mark, sizeof arn_mark - 1) == 0) {
            name.ptr += i + sizeof arn_mark - 1;
            name.len -= i + sizeof arn_mark - 1;
            break;
        }
    }
    const char *colon = memchr(name.ptr, ':', name.len);
    mb_cur bare = {name.ptr, colon ? (size_t)(colon - name.ptr) : name.len};
    if (colon != NULL) {
        mb_cur q = {colon + 1, name.len - bare.len - 1};
        if (!mb_cur_eq(q, MB_CUR_LIT("$LATEST")) && !mb_cur_eq(q, MB_CUR_LIT("live"))) {
            return false;
        }
    }
    return mb_cur_eq(bare, mb_cur_from_cstr(t->logical_id)) ||
           mb_cur_eq(bare, mb_cur_from_cstr(t->function_name));
}

bool mb_invoke_check(const mb_invoke_target *t, const char *method, mb_cur raw_path,
                     const char *invocation_type, mb_cur payload, mb_invoke_answer *ans) {
    memset(ans, 0, sizeof *ans);
    mb_cur prefix = MB_CUR_LIT(MB_INVOKE_PREFIX), suffix = MB_CUR_LIT("/invocations");
    if (!mb_cur_starts_with(raw_path, prefix) || raw_path.len <= prefix.len + suffix.len ||
        memcmp(raw_path.ptr + raw_path.len - suffix.len, suffix.ptr, suffix.len) != 0) {
        return s_service_error(ans, 404, "UnknownOperationException",
                               "Only POST " MB_INVOKE_PREFIX "{name}/invocations is served here",
                               (mb_cur){NULL, 0});
    }
    if (strcmp(method, "POST") != 0) {
        return s_service_error(ans, 405, "UnknownOperationException", "Invoke takes POST, not ",
                               mb_cur_from_cstr(method));
    }
    mb_buf name = {0};
    mb_cur enc = {raw_path.ptr + prefix.len, raw_path.len - prefix.len - suffix.len};
    bool known = mb_text_pct_decode_buf(&name, enc, 0) == 0 && s_name_ok(t, mb_buf_cur(&name));
    mb_buf_cleanup(&name);
    if (!known) {
        return s_service_error(ans, 404, "ResourceNotFoundException",
                               "Function not found (the devserver runs MoonbaseFunction): ", enc);
    }
    if (payload.len > MB_APIGW_MAX_LAMBDA_PAYLOAD) {
        return s_service_error(ans, 413, "RequestTooLargeException",
                               "Request must be smaller than 6291456 bytes for the InvokeFunction "
                               "operation",
                               (mb_cur){NULL, 0});
    }
    json_t *doc = payload.len ? json_loadb(payload.ptr, payload.len, JSON_DECODE_ANY, NULL) : NULL;
    bool json_ok = payload.len == 0 || doc != NULL;
    json_decref(doc);
    if (!json_ok) {
        return s_service_error(ans, 400, "InvalidRequestContentException",
                               "Could not parse request body into json", (mb_cur){NULL, 0});
    }
    if (invocation_type != NULL && strcmp(invocation_type, "DryRun") == 0) {
        ans->status = 204;
        return false;
    }
    if (invocation_type != NULL && strcmp(invocation_type, "RequestResponse") != 0) {
        return s_service_error(ans, 400, "InvalidParameterValueException",
                               "The devserver runs RequestResponse and DryRun invocations, not ",
                               mb_cur_from_cstr(invocation_type));
    }
    return true;
}

/* 200 + X-Amz-Function-Error: Unhandled with {"errorMessage", "errorType"}. */
static int s_unhandled(mb_invoke_answer *ans, const char *type, const char *msg) {
    ans->status = 200;
    ans->function_error = "Unhandled";
    json_t *doc = json_pack("{s:s, s:s}", "errorMessage", msg, "errorType", type);
    char *out = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    int rc = out && mb_buf_append_cstr(&ans->body, out) == 0 ? 0 : MB_ERR_NOMEM;
    free(out);
    json_decref(doc);
    return rc;
}

int mb_invoke_answer_from(const mb_pool_result *res, double timeout_s, mb_invoke_answer *ans) {
    char msg[160];
    memset(ans, 0, sizeof *ans);
    switch (res->outcome) {
    case MB_POOL_OK:
        ans->status = 200;
        return mb_buf_append_cur(&ans->body, mb_buf_cur(&res->payload)) == 0 ? 0 : MB_ERR_NOMEM;
    case MB_POOL_FUNC_ERROR:
    case MB_POOL_INIT_ERROR:
        /* The runtime's own error document (errorMessage, errorType) is the payload. */
        ans->status = 200;
        ans->function_error = "Unhandled";
        return mb_buf_append_cur(&ans->body, mb_buf_cur(&res->payload)) == 0 ? 0 : MB_ERR_NOMEM;
    case MB_POOL_TIMEOUT:
        snprintf(msg, sizeof msg, "RequestId: %s Error: Task timed out after %.2f seconds",
                 res->request_id, timeout_s);
        return s_unhandled(ans, "Sandbox.Timedout", msg);
    case MB_POOL_CRASH:
        snprintf(msg, sizeof msg, "RequestId: %s Error: Runtime exited without providing a reason",
                 res->request_id);
        return s_unhandled(ans, "Runtime.ExitError", msg);
    case MB_POOL_TOO_LARGE:
        return s_unhandled(ans, "Function.ResponseSizeTooLarge",
                           "Response payload size exceeded maximum allowed payload size "
                           "(6291556 bytes).");
    default:
        s_service_error(ans, 503, "ServiceException", "The devserver is shutting down",
                        (mb_cur){NULL, 0});
        return 0;
    }
}

void mb_invoke_answer_cleanup(mb_invoke_answer *ans) {
    if (ans != NULL) {
        mb_buf_cleanup(&ans->body);
    }
}
