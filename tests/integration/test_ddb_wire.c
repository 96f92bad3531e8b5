/* test_ddb_wire.c - every AttributeValue type round-trips through ctx.db and a real dynalite
 * ($MB_DYNAMODB_PORT, the `services` fixture) byte for byte: a handler-style put, get, put of
 * what get returned, get again, with the request and response bodies captured on the wire by a
 * recording proxy (a thread of this test between the client and dynalite). The four Item
 * AttributeValue documents must be identical: structurally (maps compared by key, lists and sets
 * in order), and byte for byte for each attribute whose JSON has no map of two keys or more
 * (member order of a JSON object is not data). */
#define _GNU_SOURCE /* strcasestr */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>

#include "moonbase/ddb.h"
#include "moonbase/ddb_marshal.h"
#include "moonbase/json.h"
#include "moonbase/config.h"
#include "moonbase/lua_api.h"

/* ---- the recording proxy ---- */

#define PROXY_MAX_EXCHANGES 64
#define PROXY_MAX_MESSAGE (1 << 20)

typedef struct proxy {
    int fd, port, upstream_port;
    pthread_t thread;
    volatile int stop;
    int count;                            /* exchanges recorded */
    char *req[PROXY_MAX_EXCHANGES];       /* request bodies (NUL-terminated, heap) */
    char *resp[PROXY_MAX_EXCHANGES];      /* response bodies, de-chunked */
    char target[PROXY_MAX_EXCHANGES][64]; /* X-Amz-Target */
} proxy;

/* Read one HTTP request (head + Content-Length body) from c into buf; returns its length or -1. */
static long s_read_request(proxy *p, int c, char *buf) {
    size_t n = 0, head = 0, body = 0;
    while (n < PROXY_MAX_MESSAGE - 1) {
        struct pollfd pf = {c, POLLIN, 0};
        int ready = 0;
        for (int waited = 0; !ready && !p->stop && waited < 5000; waited += 20) {
            ready = poll(&pf, 1, 20);
        }
        ssize_t k = ready > 0 ? recv(c, buf + n, PROXY_MAX_MESSAGE - 1 - n, 0) : -1;
        if (k <= 0) {
            return -1;
        }
        n += (size_t)k;
        buf[n] = '\0';
        char *end = head ? NULL : strstr(buf, "\r\n\r\n");
        if (end) {
            head = (size_t)(end - buf) + 4;
            char *cl = strcasestr(buf, "\r\ncontent-length:");
            body = cl ? strtoul(cl + 17, NULL, 10) : 0;
        }
        if (head && n >= head + body) {
            return (long)n;
        }
    }
    return -1;
}

/* The body of a response (after the head), de-chunked when it is chunked. */
static char *s_body(const char *msg, size_t len) {
    const char *b = strstr(msg, "\r\n\r\n");
    b = b ? b + 4 : msg + len;
    size_t blen = len - (size_t)(b - msg);
    char *out = malloc(blen + 1);
    assert_non_null(out);
    const char *te = strcasestr(msg, "\r\ntransfer-encoding: chunked");
    if (!te || te > b) {
        memcpy(out, b, blen);
        out[blen] = '\0';
        return out;
    }
    size_t o = 0;
    for (const char *p = b; p < msg + len;) {
        char *next;
        unsigned long size = strtoul(p, &next, 16);
        const char *data = strstr(next, "\r\n");
        if (!data || size == 0) {
            break;
        }
        memcpy(out + o, data + 2, size);
        o += size;
        p = data + 2 + size + 2;
    }
    out[o] = '\0';
    return out;
}

/* Forward one request to dynalite with "Connection: close" and read the response to EOF. */
static long s_forward(proxy *p, const char *req, size_t len, char *resp) {
    int u = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)p->upstream_port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (u < 0 || connect(u, (struct sockaddr *)&a, sizeof a) != 0) {
        if (u >= 0) {
            close(u);
        }
        return -1;
    }
    const char *line_end = strstr(req, "\r\n");
    size_t first = (size_t)(line_end - req) + 2;
    static const char close_hdr[] = "Connection: close\r\n";
    bool ok =
        send(u, req, first, MSG_NOSIGNAL) == (ssize_t)first &&
        send(u, close_hdr, sizeof close_hdr - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof close_hdr - 1) &&
        send(u, req + first, len - first, MSG_NOSIGNAL) == (ssize_t)(len - first);
    size_t n = 0;
    ssize_t k = 0;
    while (ok && n < PROXY_MAX_MESSAGE - 1 &&
           (k = recv(u, resp + n, PROXY_MAX_MESSAGE - 1 - n, 0)) > 0) {
        n += (size_t)k;
    }
    close(u);
    resp[n] = '\0';
    return ok && k == 0 ? (long)n : -1;
}

static void s_record(proxy *p, const char *req, size_t rlen, const char *resp, size_t len) {
    if (p->count >= PROXY_MAX_EXCHANGES) {
        return;
    }
    int i = p->count;
    p->req[i] = s_body(req, rlen);
    p->resp[i] = s_body(resp, len);
    const char *t = strcasestr(req, "\r\nx-amz-target:");
    snprintf(p->target[i], sizeof p->target[i], "%.*s", t ? (int)strcspn(t + 15, "\r") : 0,
             t ? t + 15 : "");
    p->count = i + 1;
}

static void *s_proxy_main(void *arg) {
    proxy *p = arg;
    char *req = malloc(PROXY_MAX_MESSAGE), *resp = malloc(PROXY_MAX_MESSAGE);
    while (req && resp && !p->stop) {
        struct pollfd pf = {p->fd, POLLIN, 0};
        if (poll(&pf, 1, 20) <= 0) {
            continue;
        }
        int c = accept(p->fd, NULL, NULL);
        long n;
        while (c >= 0 && !p->stop && (n = s_read_request(p, c, req)) > 0) {
            long m = s_forward(p, req, (size_t)n, resp);
            if (m <= 0) {
                break;
            }
            s_record(p, req, (size_t)n, resp, (size_t)m);
            if (send(c, resp, (size_t)m, MSG_NOSIGNAL) != m) {
                break;
            }
            if (strcasestr(resp, "\r\nconnection: close")) {
                break; /* the client saw the header and will reconnect */
            }
        }
        if (c >= 0) {
            close(c);
        }
    }
    free(req);
    free(resp);
    return NULL;
}

static void s_proxy_start(proxy *p, int upstream_port) {
    memset(p, 0, sizeof *p);
    p->upstream_port = upstream_port;
    p->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(p->fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(p->fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(p->fd, 8), 0);
    socklen_t al = sizeof a;
    getsockname(p->fd, (struct sockaddr *)&a, &al);
    p->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&p->thread, NULL, s_proxy_main, p), 0);
}

static void s_proxy_stop(proxy *p) {
    p->stop = 1;
    pthread_join(p->thread, NULL);
    close(p->fd);
    for (int i = 0; i < p->count; i++) {
        free(p->req[i]);
        free(p->resp[i]);
    }
}

/* ---- the fixture: ctx.db (tenant t1) on a client whose endpoint is the proxy ---- */

typedef struct fixture {
    proxy px;
    mb_config cfg;
    mb_lua_services svc;
    mb_ddb *direct; /* set-up and teardown, not recorded */
    lua_State *L;
    char table[64];
} fixture;

static mb_ddb *s_client(int port) {
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", port);
    mb_sigv4_credentials creds = {0};
    assert_int_equal(mb_sigv4_credentials_set(&creds, "AKIDLOCAL", "local-secret", NULL, NULL), 0);
    mb_ddb_config dc = {.region = "us-east-1", .endpoint = endpoint};
    mb_err err = {0};
    mb_ddb *d = mb_ddb_new(&dc, &creds, &err);
    if (!d) {
        fail_msg("client: %s", err.msg);
    }
    return d;
}

static int64_t s_deadline(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + 10000;
}

/* Run `code` (a chunk) on the direct client's Lua binding `ddb(op, request)`. */
static int l_direct(lua_State *L) {
    fixture *f = lua_touserdata(L, lua_upvalueindex(1));
    const char *op = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    mb_err err = {0};
    if (mb_ddb_call(f->direct, L, op, 2, s_deadline(), &err) != 0) {
        return luaL_error(L, "%s: %s", op, err.msg);
    }
    return 1;
}

static void s_run(fixture *f, const char *code) {
    if (luaL_dostring(f->L, code) != LUA_OK) {
        fail_msg("%s", lua_tostring(f->L, -1));
    }
    lua_settop(f->L, 0);
}

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    const char *port = getenv("MB_DYNAMODB_PORT");
    int ddb_port = port && port[0] ? atoi(port) : 18000;
    s_proxy_start(&f->px, ddb_port);
    f->direct = s_client(ddb_port);
    snprintf(f->table, sizeof f->table, "mb_wire_%d_%d", (int)getpid(), (int)time(NULL));
    f->cfg.table_name = f->table;
    f->cfg.region = "us-east-1";
    f->svc.cfg = &f->cfg;
    f->svc.ddb = s_client(f->px.port);
    f->svc.tenant = MB_CUR_LIT("t1");
    f->svc.user_sub = MB_CUR_LIT("u1");
    f->L = luaL_newstate();
    luaL_openlibs(f->L);
    mb_lua_aux_open(f->L);
    mb_lua_aux_set_services(f->L, &f->svc);
    mb_lua_open_api(f->L);
    lua_setglobal(f->L, "ctx");
    mb_json_push_lib(f->L);
    lua_setglobal(f->L, "json");
    lua_pushlightuserdata(f->L, f);
    lua_pushcclosure(f->L, l_direct, 1);
    lua_setglobal(f->L, "ddb");
    lua_pushstring(f->L, f->table);
    lua_setglobal(f->L, "TABLE");
    s_run(f, "ddb('CreateTable', {TableName = TABLE, BillingMode = 'PAY_PER_REQUEST',\n"
             "  AttributeDefinitions = {{AttributeName = 'PK', AttributeType = 'S'},\n"
             "                          {AttributeName = 'SK', AttributeType = 'S'}},\n"
             "  KeySchema = {{AttributeName = 'PK', KeyType = 'HASH'},\n"
             "               {AttributeName = 'SK', KeyType = 'RANGE'}}})\n"
             "for i = 1, 500 do\n"
             "  if ddb('DescribeTable', {TableName = TABLE}).Table.TableStatus == 'ACTIVE' then\n"
             "    return end\n"
             "  local t = os.clock() + 0.01 while os.clock() < t do end\n"
             "end\n"
             "error('table never became ACTIVE')\n");
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    s_run(f, "ddb('DeleteTable', {TableName = TABLE})");
    lua_close(f->L);
    mb_ddb_free(f->svc.ddb);
    mb_ddb_free(f->direct);
    s_proxy_stop(&f->px);
    free(f);
    return 0;
}

/* Push the recorded body `which` ("req" or "resp") of exchange i (0-based) as a string. */
static int l_wire(lua_State *L) {
    fixture *f = lua_touserdata(L, lua_upvalueindex(1));
    lua_Integer i = luaL_checkinteger(L, 1);
    const char *which = luaL_checkstring(L, 2);
    if (i < 0 || i >= f->px.count) {
        return luaL_error(L, "no exchange %d (%d recorded)", (int)i, f->px.count);
    }
    lua_pushstring(L, strcmp(which, "req") == 0 ? f->px.req[i] : f->px.resp[i]);
    lua_pushstring(L, f->px.target[i]);
    return 2;
}

/* decode(json) -> value: the strict JSON decoder with room for 31 levels of AttributeValue
 * nesting (two JSON objects per level), deeper than json.decode allows handlers. */
static int l_decode(lua_State *L) {
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    mb_err err = {0};
    if (mb_json_decode(L, (mb_cur){s, n}, 4 * MB_DDB_MAX_DEPTH, &err) != 0) {
        return luaL_error(L, "decode: %s", err.msg);
    }
    return 1;
}

/* The handler's round trip: every AttributeValue type in one item (S with NUL and non-ASCII, N as
 * integer, float, 38-digit and tiny decimals, B empty and with all 256 byte values, BOOL, NULL,
 * L and M empty and not, SS, NS with decimals, BS with the empty binary, 31 levels of nesting),
 * put, get, put what get returned, get again. */
static void test_ddb_wire_every_type_round_trips_byte_for_byte(void **state) {
    fixture *f = *state;
    lua_pushlightuserdata(f->L, f);
    lua_pushcclosure(f->L, l_wire, 1);
    lua_setglobal(f->L, "wire");
    lua_register(f->L, "decode", l_decode);
    s_run(
        f,
        "local db = ctx.db\n"
        "local all = {} for i = 0, 255 do all[#all + 1] = string.char(i) end\n"
        "local deep = 'leaf' for i = 1, 31 do deep = {d = deep} end\n"
        "local item = {SK = 'ITEM#wire', s = 'h\\u{e9}llo\\0w\\u{1F600}\\n\"q\\\\', n = 42,\n"
        "  neg = math.mininteger, f = -2.5, small = 1.5e-7, huge = 1e125,\n"
        "  dec = db.number('12345678901234567890123456789012345678'),\n"
        "  tiny = db.number('-1.234567890123456789E-120'), money = db.number('19.99'),\n"
        "  b = db.binary(table.concat(all)), b0 = db.binary(''), t = true, no = false,\n"
        "  z = json.null, l = {1, 'two', {three = 3}, db.binary('\\1')},\n"
        "  l0 = setmetatable({}, json.array_mt), m0 = {}, m = {ma = 1, mb = {mc = 'x'}, me = {}},\n"
        "  ss = db.set({'b', 'a', '\\u{e9}'}), ns = db.set({3, 1.25, db.number('1e-130'),\n"
        "  db.number('99999999999999999999999999999999999999')}),\n"
        "  bs = db.set({db.binary(''), db.binary('\\0\\255'), db.binary(table.concat(all))}),\n"
        "  deep = deep}\n"
        "db.put(item)\n"
        "local got = db.get('ITEM#wire', {consistent = true})\n"
        "db.put(got)\n"
        "local again = db.get('ITEM#wire', {consistent = true})\n"
        "_G.got, _G.again = got, again\n");
    /* what the handler got back is what it wrote: kinds and values */
    s_run(f,
          "local function kind(v) local t = type(v) if t ~= 'userdata' then return t end\n"
          "  return (pcall(function() return #v end)) and 'binary' or 'decimal' end\n"
          "assert(kind(got.b) == 'binary' and #got.b == 256 and kind(got.b0) == 'binary')\n"
          "assert(kind(got.dec) == 'decimal' and tostring(got.dec) ==\n"
          "  '12345678901234567890123456789012345678')\n"
          "assert(tostring(got.tiny) == '-0.' .. string.rep('0', 119) .. '1234567890123456789')\n"
          "assert(got.money == 19.99 and got.n == 42 and math.type(got.n) == 'integer')\n"
          "assert(got.huge == 1e125 and got.small == 1.5e-7 and got.neg == math.mininteger)\n"
          "assert(kind(got.bs[1]) == 'binary' and #got.bs[1] == 0 and got.ns.type == 'NS')\n"
          "assert(got.deep.d.d.d ~= nil and next(got.m0) == nil and #got.l0 == 0)\n");
    /* the wire: exchanges are put, get, put, get (nothing else went through the proxy) */
    s_run(f,
          "local function canon(v)\n"
          "  if type(v) == 'table' then\n"
          "    if getmetatable(v) == json.array_mt or #v > 0 then local o = {}\n"
          "      for i = 1, #v do o[i] = canon(v[i]) end return '[' .. table.concat(o, ',') .. "
          "']' end\n"
          "    local keys = {} for k in pairs(v) do keys[#keys + 1] = k end table.sort(keys)\n"
          "    local o = {} for i, k in ipairs(keys) do o[i] = string.format('%q:', k) .. "
          "canon(v[k]) end\n"
          "    return '{' .. table.concat(o, ',') .. '}'\n"
          "  end\n"
          "  if v == json.null then return 'null' end\n"
          "  return type(v) == 'string' and string.format('%q', v) or tostring(v)\n"
          "end\n"
          "local put1, t1 = wire(0, 'req') local get1, t2 = wire(1, 'resp')\n"
          "local put2, t3 = wire(2, 'req') local get2, t4 = wire(3, 'resp')\n"
          "assert(t1:find('PutItem') and t2:find('GetItem') and t3:find('PutItem') and "
          "t4:find('GetItem'), t1 .. t2 .. t3 .. t4)\n"
          "local docs = {decode(put1).Item, decode(get1).Item, decode(put2).Item,\n"
          "  decode(get2).Item}\n"
          "local c1 = canon(docs[1])\n"
          "for i = 2, 4 do assert(canon(docs[i]) == c1, 'document ' .. i .. ' differs:\\n' ..\n"
          "  canon(docs[i]) .. '\\n' .. c1) end\n"
          /* byte for byte, per attribute: its JSON text up to the matching brace */
          "local function raw(body, name)\n"
          "  local s = body:find('\"' .. name .. '\":{', 1, true)\n"
          "  assert(s, name .. ' not in ' .. body)\n"
          "  local i, depth, in_str = s + #name + 3, 0, false\n"
          "  while true do local ch = body:sub(i, i)\n"
          "    if in_str then if ch == '\\\\' then i = i + 1 elseif ch == '\"' then in_str = false "
          "end\n"
          "    elseif ch == '\"' then in_str = true elseif ch == '{' or ch == '[' then depth = "
          "depth + 1\n"
          "    elseif ch == '}' or ch == ']' then depth = depth - 1 if depth == 0 then\n"
          "      return body:sub(s, i) end end\n"
          "    i = i + 1 end\n"
          "end\n"
          "local names = {'SK', 's', 'n', 'neg', 'f', 'small', 'huge', 'dec', 'tiny', 'money', "
          "'b', 'b0',\n"
          "  't', 'no', 'z', 'l', 'l0', 'm0', 'ss', 'ns', 'bs', 'deep'}\n"
          "for _, name in ipairs(names) do local want = raw(put1, name)\n"
          "  for _, body in ipairs({get1, put2, get2}) do\n"
          "    assert(raw(body, name) == want, name .. ': ' .. raw(body, name) .. ' ~= ' .. want) "
          "end end\n"
          "assert(#docs[1] == 0 and docs[1].m and docs[1].PK, 'the whole item was compared')\n");
    assert_int_equal(f->px.count, 4);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ddb_wire_every_type_round_trips_byte_for_byte, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
