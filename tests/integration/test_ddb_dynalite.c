/* test_ddb_dynalite.c - the DynamoDB client against a real dynalite (http://127.0.0.1:
 * $MB_DYNAMODB_PORT, started by the `services` fixture): every operation, pagination across
 * pages, conditional failures -> MB_ERR_CONFLICT, batch calls, validation and missing-table
 * errors. Each run uses its own table. Cases are written in Lua over a `ddb(op, request)`
 * binding of mb_ddb_call so requests read like the AWS API. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>

#include "moonbase/ddb.h"
#include "moonbase/ddb_marshal.h"

static mb_ddb *g_ddb;

static int64_t deadline(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + 10000;
}

/* ddb(op, request) -> response | nil, message, status */
static int l_ddb(lua_State *L) {
    const char *op = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    mb_err err = {0};
    int rc = strcmp(op, "BatchGetItem") == 0     ? mb_ddb_batch_get(g_ddb, L, 2, deadline(), &err)
             : strcmp(op, "BatchWriteItem") == 0 ? mb_ddb_batch_write(g_ddb, L, 2, deadline(), &err)
                                                 : mb_ddb_call(g_ddb, L, op, 2, deadline(), &err);
    if (rc != 0) {
        lua_pushnil(L);
        lua_pushstring(L, err.msg);
        lua_pushinteger(L, rc);
        return 3;
    }
    return 1;
}

static int l_set(lua_State *L) {
    mb_err err = {0};
    if (mb_ddb_marshal_push_set(L, 1, luaL_optstring(L, 2, NULL), &err) != 0) {
        return luaL_error(L, "%s", err.msg);
    }
    return 1;
}

static const char *const k_prelude =
    "null = ddb_null\n"
    "function check(c, ...) if not c then error(table.concat({...}, ' '), 2) end end\n"
    "function ok(op, req) local r, msg, st = ddb(op, req); check(r, op, msg); return r end\n"
    "function fails(op, req, want) local r, msg, st = ddb(op, req)\n"
    "  check(r == nil and st == want, op, 'expected', want, 'got', tostring(st), msg or '')\n"
    "  return msg end\n"
    "function create_table(name)\n"
    "  ok('CreateTable', {TableName = name, BillingMode = 'PAY_PER_REQUEST',\n"
    "    AttributeDefinitions = {{AttributeName = 'PK', AttributeType = 'S'},\n"
    "                            {AttributeName = 'SK', AttributeType = 'S'}},\n"
    "    KeySchema = {{AttributeName = 'PK', KeyType = 'HASH'}, {AttributeName = 'SK', KeyType = "
    "'RANGE'}}})\n"
    "  for i = 1, 200 do\n"
    "    local d = ok('DescribeTable', {TableName = name})\n"
    "    if d.Table.TableStatus == 'ACTIVE' then return end\n"
    "    local t = os.clock() + 0.01 while os.clock() < t do end\n"
    "  end\n"
    "  error('table never became ACTIVE')\n"
    "end\n";

static int setup(void **state) {
    const char *port = getenv("MB_DYNAMODB_PORT");
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%s", port && port[0] ? port : "18000");
    mb_sigv4_credentials creds = {0};
    mb_err err = {0};
    if (mb_sigv4_credentials_set(&creds, "AKIDLOCAL", "local-secret", NULL, &err) != 0) {
        return -1;
    }
    mb_ddb_config cfg = {.region = "us-east-1", .endpoint = endpoint};
    g_ddb = mb_ddb_new(&cfg, &creds, &err);
    if (!g_ddb) {
        print_error("%s\n", err.msg);
        return -1;
    }
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    mb_lua_aux_open(L); /* the array metatable */
    mb_ddb_marshal_open(L);
    lua_register(L, "ddb", l_ddb);
    lua_register(L, "set", l_set);
    lua_pushlightuserdata(L, NULL);
    lua_setglobal(L, "ddb_null");
    lua_pushinteger(L, MB_ERR_CONFLICT);
    lua_setglobal(L, "CONFLICT");
    lua_pushinteger(L, MB_ERR_INVALID);
    lua_setglobal(L, "INVALID");
    lua_pushinteger(L, MB_ERR_UPSTREAM);
    lua_setglobal(L, "UPSTREAM");
    /* A fresh name per test: two tests in the same second must not race one table's deletion. */
    static int serial;
    lua_pushfstring(L, "mb_it_%d_%d_%d", (int)getpid(), (int)time(NULL), ++serial);
    lua_setglobal(L, "TABLE");
    if (luaL_dostring(L, k_prelude) != LUA_OK ||
        luaL_dostring(L, "create_table(TABLE)") != LUA_OK) {
        print_error("setup: %s\n", lua_tostring(L, -1));
        lua_close(L);
        mb_ddb_free(g_ddb);
        g_ddb = NULL;
        return -1;
    }
    *state = L;
    return 0;
}

static int teardown(void **state) {
    lua_State *L = *state;
    if (luaL_dostring(L, "ok('DeleteTable', {TableName = TABLE})") != LUA_OK) {
        print_error("teardown: %s\n", lua_tostring(L, -1));
    }
    lua_close(L);
    mb_ddb_free(g_ddb);
    return 0;
}

static void run_lua(void **state, const char *code) {
    lua_State *L = *state;
    if (luaL_dostring(L, code) != LUA_OK) {
        print_error("%s\n", lua_tostring(L, -1));
        fail();
    }
    lua_settop(L, 0);
}

static void test_ddb_dynalite_put_get_update_delete(void **state) {
    run_lua(
        state,
        "local item = {PK = 'TENANT#t1', SK = 'ITEM#1', title = 'héllo\\0world', n = 42,\n"
        "  f = 2.5, big = math.maxinteger, ok = true, none = null, tags = set({'a', 'b'}),\n"
        "  nums = set({1, 2}), m = {deep = {list = {1, 'x', {y = false}}}}, version = 1}\n"
        "ok('PutItem', {TableName = TABLE, Item = item,\n"
        "  ConditionExpression = 'attribute_not_exists(PK)'})\n"
        "local g = ok('GetItem', {TableName = TABLE, Key = {PK = 'TENANT#t1', SK = 'ITEM#1'},\n"
        "  ConsistentRead = true})\n"
        "local it = g.Item\n"
        "check(it.title == 'héllo\\0world' and it.n == 42 and math.type(it.n) == 'integer')\n"
        "check(it.f == 2.5 and it.big == math.maxinteger and it.ok == true and it.none == null)\n"
        "check(it.tags.type == 'SS' and #it.tags == 2 and it.nums.type == 'NS')\n"
        "check(it.m.deep.list[2] == 'x' and it.m.deep.list[3].y == false)\n"
        /* the same put again: the condition fails -> CONFLICT */
        "fails('PutItem', {TableName = TABLE, Item = item,\n"
        "  ConditionExpression = 'attribute_not_exists(PK)'}, CONFLICT)\n"
        /* update with SET / REMOVE / ADD, names and values, optimistic version check */
        "local u = ok('UpdateItem', {TableName = TABLE, Key = {PK = 'TENANT#t1', SK = 'ITEM#1'},\n"
        "  UpdateExpression = 'SET #t = :t, version = version + :one REMOVE f ADD n :ten',\n"
        "  ConditionExpression = 'version = :v',\n"
        "  ExpressionAttributeNames = {['#t'] = 'title'},\n"
        "  ExpressionAttributeValues = {[':t'] = 'new', [':one'] = 1, [':ten'] = 10, [':v'] = 1},\n"
        "  ReturnValues = 'ALL_NEW'})\n"
        "check(u.Attributes.title == 'new' and u.Attributes.version == 2 and u.Attributes.n == "
        "52)\n"
        "check(u.Attributes.f == nil)\n"
        "local msg = fails('UpdateItem', {TableName = TABLE, Key = {PK = 'TENANT#t1', SK = "
        "'ITEM#1'},\n"
        "  UpdateExpression = 'SET version = version + :one', ConditionExpression = 'version = "
        ":v',\n"
        "  ExpressionAttributeValues = {[':one'] = 1, [':v'] = 1}}, CONFLICT)\n"
        "check(msg:find('ConditionalCheckFailedException'), msg)\n"
        /* delete: stale condition -> CONFLICT, then the right one with ALL_OLD */
        "fails('DeleteItem', {TableName = TABLE, Key = {PK = 'TENANT#t1', SK = 'ITEM#1'},\n"
        "  ConditionExpression = 'version = :v', ExpressionAttributeValues = {[':v'] = 1}}, "
        "CONFLICT)\n"
        "local d = ok('DeleteItem', {TableName = TABLE, Key = {PK = 'TENANT#t1', SK = 'ITEM#1'},\n"
        "  ConditionExpression = 'version = :v', ExpressionAttributeValues = {[':v'] = 2},\n"
        "  ReturnValues = 'ALL_OLD'})\n"
        "check(d.Attributes.title == 'new')\n"
        "g = ok('GetItem', {TableName = TABLE, Key = {PK = 'TENANT#t1', SK = 'ITEM#1'}})\n"
        "check(g.Item == nil, 'deleted item still there')\n");
}

static void test_ddb_dynalite_query_pagination_and_batches(void **state) {
    run_lua(
        state,
        /* 30 items in tenant t2 via BatchWriteItem (two batches of at most 25) */
        "for b = 0, 1 do local reqs = {}\n"
        "  for i = b * 15 + 1, b * 15 + 15 do\n"
        "    reqs[#reqs + 1] = {PutRequest = {Item = {PK = 'TENANT#t2',\n"
        "      SK = string.format('ITEM#%03d', i), i = i, odd = i % 2 == 1}}} end\n"
        "  ok('BatchWriteItem', {RequestItems = {[TABLE] = reqs}}) end\n"
        "ok('PutItem', {TableName = TABLE, Item = {PK = 'TENANT#other', SK = 'ITEM#001', i = 0}})\n"
        /* newest first, 7 per page, across pages with ExclusiveStartKey */
        "local seen, start, pages = {}, nil, 0\n"
        "repeat\n"
        "  local r = ok('Query', {TableName = TABLE, KeyConditionExpression =\n"
        "    'PK = :pk AND begins_with(SK, :p)', ExpressionAttributeValues =\n"
        "    {[':pk'] = 'TENANT#t2', [':p'] = 'ITEM#'}, Limit = 7, ScanIndexForward = false,\n"
        "    ExclusiveStartKey = start})\n"
        "  pages = pages + 1\n"
        "  for _, it in ipairs(r.Items) do seen[#seen + 1] = it.i end\n"
        "  start = r.LastEvaluatedKey\n"
        "  check(start == nil or start.PK == 'TENANT#t2', 'LastEvaluatedKey')\n"
        "until start == nil\n"
        "check(#seen == 30 and pages >= 5, 'seen', #seen, 'pages', pages)\n"
        "for k = 1, 30 do check(seen[k] == 31 - k, 'order at', k) end\n"
        /* filter + projection */
        "local r = ok('Query', {TableName = TABLE, KeyConditionExpression = 'PK = :pk',\n"
        "  FilterExpression = 'odd = :t', ProjectionExpression = '#i, SK',\n"
        "  ExpressionAttributeNames = {['#i'] = 'i'},\n"
        "  ExpressionAttributeValues = {[':pk'] = 'TENANT#t2', [':t'] = true}})\n"
        "check(#r.Items == 15 and r.Items[1].odd == nil and r.Items[1].i % 2 == 1)\n"
        /* BatchGetItem of 5 keys (one missing) */
        "local keys = {}\n"
        "for i = 1, 4 do keys[i] = {PK = 'TENANT#t2', SK = string.format('ITEM#%03d', i)} end\n"
        "keys[5] = {PK = 'TENANT#t2', SK = 'ITEM#999'}\n"
        "local bg = ok('BatchGetItem', {RequestItems = {[TABLE] = {Keys = keys, ConsistentRead = "
        "true}}})\n"
        "check(#bg.Responses[TABLE] == 4 and next(bg.UnprocessedKeys) == nil)\n"
        /* batch delete everything of t2 */
        "local dels = {}\n"
        "for i = 1, 20 do dels[i] = {DeleteRequest = {Key = {PK = 'TENANT#t2',\n"
        "  SK = string.format('ITEM#%03d', i)}}} end\n"
        "ok('BatchWriteItem', {RequestItems = {[TABLE] = dels}})\n"
        "r = ok('Query', {TableName = TABLE, KeyConditionExpression = 'PK = :pk',\n"
        "  ExpressionAttributeValues = {[':pk'] = 'TENANT#t2'}})\n"
        "check(r.Count == 10 and #r.Items == 10, 'after delete', r.Count)\n");
}

static void test_ddb_dynalite_errors(void **state) {
    run_lua(state,
            "local msg = fails('GetItem', {TableName = TABLE, Key = {PK = 'x'}}, INVALID)\n"
            "check(msg:find('ValidationException'), msg)\n"
            "msg = fails('GetItem', {TableName = 'no_such_table_x', Key = {PK = 'x', SK = 'y'}},\n"
            "  UPSTREAM)\n"
            "check(msg:find('ResourceNotFoundException'), msg)\n"
            "fails('UpdateItem', {TableName = TABLE, Key = {PK = 'a', SK = 'b'},\n"
            "  UpdateExpression = 'SET = broken'}, INVALID)\n");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ddb_dynalite_put_get_update_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ddb_dynalite_query_pagination_and_batches, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ddb_dynalite_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
