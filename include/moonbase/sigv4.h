/* moonbase/sigv4.h - AWS Signature Version 4 (HMAC-SHA256) for outgoing AWS API calls: header
 * signing (Authorization header) and query-string presigning, with session tokens.
 * Ownership: an mb_sigv4_signer owns copies of the credentials and a cached signing key; the
 * caller frees it with mb_sigv4_signer_cleanup(), which wipes the secret. Requests borrow every
 * buffer they point to. An mb_sigv4_output owns its buffers; reuse it across calls (capacity is
 * kept) and release it with mb_sigv4_output_cleanup(). Not thread-safe: one signer per thread.
 * The secret access key is never written into an error message, a log line or an output buffer. */
#ifndef MOONBASE_SIGV4_H
#define MOONBASE_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "moonbase/buf.h"
#include "moonbase/err.h"
#include "moonbase/http.h"

/* Bounds on credential and scope strings: real values are far shorter (access key ids are 20
 * characters, STS session tokens about 1-2 KiB); anything longer is a configuration error. */
#define MB_SIGV4_MAX_KEY_ID 128
#define MB_SIGV4_MAX_SECRET 128
#define MB_SIGV4_MAX_TOKEN 8192
#define MB_SIGV4_MAX_SCOPE_PART 64
/* Bound on the number of signed headers and query parameters of one request. */
#define MB_SIGV4_MAX_PARAMS 256

/* Credentials: heap copies, NUL-terminated; session_token is NULL for long-term keys. */
typedef struct mb_sigv4_credentials {
    char *access_key_id;
    char *secret_access_key;
    char *session_token;
} mb_sigv4_credentials;

/* Fill creds with copies of the given strings (token may be NULL or empty), as config read them
 * from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN (config is the reader of
 * the environment). creds must be zeroed or cleaned; on success it owns heap copies the caller
 * releases with mb_sigv4_credentials_cleanup(). Returns 0, MB_ERR_CONFIG when the key id or the
 * secret is missing, empty or too long (the message names which, never its value), or
 * MB_ERR_NOMEM. On error creds is left empty. */
int mb_sigv4_credentials_set(mb_sigv4_credentials *creds, const char *access_key_id,
                             const char *secret_access_key, const char *session_token, mb_err *err);
/* Wipe and free the strings. Accepts NULL; leaves *creds empty. */
void mb_sigv4_credentials_cleanup(mb_sigv4_credentials *creds);

/* A signer: credentials plus the derived signing key of the last (date, region, service).
 * kSigning = HMAC chain over the date, region and service, so a warm Lambda derives it once
 * per day instead of four HMACs per request. A zeroed struct is a valid empty signer. */
typedef struct mb_sigv4_signer {
    mb_sigv4_credentials creds;
    char key_date[9]; /* YYYYMMDD of the cached key, "" when none */
    char key_region[MB_SIGV4_MAX_SCOPE_PART + 1];
    char key_service[MB_SIGV4_MAX_SCOPE_PART + 1];
    unsigned char key[32];
    unsigned long key_derivations; /* how many times a key was derived (for tests and stats) */
} mb_sigv4_signer;

/* Take ownership of creds (moved: *creds is left empty) into a zeroed signer. */
void mb_sigv4_signer_init(mb_sigv4_signer *signer, mb_sigv4_credentials *creds);
/* Wipe the key and free the credentials. Accepts NULL. */
void mb_sigv4_signer_cleanup(mb_sigv4_signer *signer);

/* The request to sign. `path` is the URI path as the caller will send it (without the query).
 * Each path segment is percent-encoded for the canonical request (RFC 3986 unreserved bytes
 * kept; '%' is encoded too, which is AWS's double encoding for every service but S3).
 * `query` is the raw query string without '?' (may be empty); its parameters are percent-decoded
 * then re-encoded, so both "%E1%88%B4" and raw UTF-8 canonicalise the same.
 * `headers` are the headers to sign: every header given is signed, so pass Host and the
 * content headers, never Authorization. Do not pass X-Amz-Date or X-Amz-Security-Token: the
 * signer adds them. Names are matched case-insensitively; duplicates are joined with ','. */
typedef struct mb_sigv4_request {
    const char *method; /* NUL-terminated, e.g. "POST" */
    mb_cur path;
    mb_cur query;
    const mb_http_header *headers;
    size_t header_count;
    mb_cur body;
} mb_sigv4_request;

typedef struct mb_sigv4_params {
    const char *region;      /* e.g. "us-east-1" */
    const char *service;     /* e.g. "dynamodb" */
    int64_t time;            /* signing time, seconds since the epoch (UTC) */
    bool normalize_path;     /* remove "." and ".." segments and repeated '/' (false for S3) */
    bool sign_body;          /* add and sign X-Amz-Content-Sha256 (header mode only) */
    bool omit_session_token; /* add the token after signing instead of signing it */
    long expires;            /* query mode: X-Amz-Expires in seconds (1..604800) */
} mb_sigv4_params;

/* The result of a signing: every intermediate artefact, plus what to send. */
typedef struct mb_sigv4_output {
    mb_buf canonical_request;
    mb_buf string_to_sign;
    char signature[65];    /* lower-case hex, NUL-terminated */
    char amz_date[17];     /* YYYYMMDDTHHMMSSZ */
    mb_buf signed_headers; /* "host;x-amz-date;..." */
    mb_buf authorization;  /* header mode: the Authorization header value */
    /* Query mode: the full query string to send (without '?'). Header mode: the canonical
     * query string (the request's parameters, sorted and re-encoded). */
    mb_buf query;
    /* Header mode: headers the caller must add to the request, borrowing from this output:
     * X-Amz-Date, X-Amz-Security-Token (when the credentials have one), X-Amz-Content-Sha256
     * (when sign_body) and Authorization. Query mode: none (header_count is 0), every auth
     * value is in `query` (an unsigned session token is appended after X-Amz-Signature). */
    mb_http_header headers[4];
    size_t header_count;
    char payload_hash[65];    /* hex SHA-256 of the body */
    mb_buf scratch;           /* internal working memory, kept for reuse */
    mb_buf canonical_headers; /* internal */
} mb_sigv4_output;

/* Sign req for the Authorization header. out may be reused (it is reset first).
 * Returns 0; MB_ERR_INVALID for a malformed request (bad percent-escape in the query, a header
 * name that is empty or has a ':'), MB_ERR_LIMIT when a bound is exceeded, MB_ERR_CONFIG when
 * the signer has no credentials or the region/service is empty or too long, MB_ERR_NOMEM. */
int mb_sigv4_sign_headers(mb_sigv4_signer *signer, const mb_sigv4_request *req,
                          const mb_sigv4_params *params, mb_sigv4_output *out, mb_err *err);
/* Presign req in the query string (X-Amz-Algorithm, -Credential, -Date, -Expires,
 * -SignedHeaders, -Security-Token, -Signature): out->query is the query string to send.
 * Same errors as mb_sigv4_sign_headers, plus MB_ERR_INVALID for expires outside 1..604800. */
int mb_sigv4_presign_query(mb_sigv4_signer *signer, const mb_sigv4_request *req,
                           const mb_sigv4_params *params, mb_sigv4_output *out, mb_err *err);
/* Release the output's buffers. Accepts NULL. */
void mb_sigv4_output_cleanup(mb_sigv4_output *out);

/* Lower-case hex SHA-256 of data into hex[65]. */
void mb_sigv4_sha256_hex(mb_cur data, char hex[65]);

#endif
