/* test_buf.c - owned buffers and borrowed views. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "moonbase/buf.h"
#include "moonbase/err.h"

static void test_buf_append_grows_and_keeps_nul(void **state) {
    (void)state;
    mb_buf b = {0};
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(mb_buf_append(&b, "ab", 2), 0);
    }
    assert_int_equal(b.len, 2000);
    assert_int_equal(b.ptr[b.len], '\0');
    assert_int_equal(mb_buf_appendf(&b, "%s-%d", "x", 42), 0);
    assert_memory_equal(b.ptr + 2000, "x-42", 4);
    mb_buf_cleanup(&b);
    assert_null(b.ptr);
    mb_buf_cleanup(NULL);
}

static void test_buf_appendf_long_output(void **state) {
    (void)state;
    mb_buf b = {0};
    char big[1000];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(mb_buf_appendf(&b, "[%s]", big), 0);
    assert_int_equal(b.len, 1001);
    assert_int_equal(b.ptr[1000], ']');
    mb_buf_cleanup(&b);
}

static void test_buf_embedded_nul_survives(void **state) {
    (void)state;
    mb_buf b = {0};
    assert_int_equal(mb_buf_append(&b, "a\0b", 3), 0);
    mb_cur c = mb_buf_cur(&b);
    assert_true(mb_cur_eq(c, (mb_cur){"a\0b", 3}));
    assert_false(mb_cur_eq(c, (mb_cur){"a\0c", 3}));
    mb_buf_cleanup(&b);
}

static void test_cur_eq_icase_ascii_only(void **state) {
    (void)state;
    assert_true(mb_cur_eq_icase(MB_CUR_LIT("Bearer"), MB_CUR_LIT("bEARER")));
    assert_false(mb_cur_eq_icase(MB_CUR_LIT("Bearer"), MB_CUR_LIT("Bearer ")));
    assert_true(mb_cur_starts_with(MB_CUR_LIT("TENANT#a"), MB_CUR_LIT("TENANT#")));
}

static void test_cur_trim_spaces_and_tabs_only(void **state) {
    (void)state;
    assert_true(mb_cur_eq(mb_cur_trim(MB_CUR_LIT(" \t a b\t ")), MB_CUR_LIT("a b")));
    assert_true(mb_cur_eq(mb_cur_trim(MB_CUR_LIT("\na\r")), MB_CUR_LIT("\na\r")));
    assert_int_equal(mb_cur_trim(MB_CUR_LIT(" \t ")).len, 0);
    assert_int_equal(mb_cur_trim((mb_cur){0}).len, 0);
}

static void test_cur_dup_copies_and_terminates(void **state) {
    (void)state;
    char *p = mb_cur_dup((mb_cur){"a\0bcd", 4});
    assert_non_null(p);
    assert_memory_equal(p, "a\0bc", 5);
    free(p);
    p = mb_cur_dup((mb_cur){0});
    assert_non_null(p);
    assert_string_equal(p, "");
    free(p);
}

static void test_err_set_formats_and_returns_status(void **state) {
    (void)state;
    mb_err err = {0};
    assert_int_equal(mb_err_set(&err, MB_ERR_INVALID, "bad %s", "thing"), MB_ERR_INVALID);
    assert_string_equal(err.msg, "bad thing");
    assert_int_equal(mb_err_set(NULL, MB_ERR_IO, "ignored"), MB_ERR_IO);
    assert_string_equal(mb_status_name(MB_ERR_CONFLICT), "conflict");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_append_grows_and_keeps_nul),
        cmocka_unit_test(test_buf_appendf_long_output),
        cmocka_unit_test(test_buf_embedded_nul_survives),
        cmocka_unit_test(test_cur_eq_icase_ascii_only),
        cmocka_unit_test(test_cur_trim_spaces_and_tabs_only),
        cmocka_unit_test(test_cur_dup_copies_and_terminates),
        cmocka_unit_test(test_err_set_formats_and_returns_status),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
