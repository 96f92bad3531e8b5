/* emf_sample.c - writes a known set of EMF documents to stdout for the schema check
 * (tests/emf_schema_check.mjs): a plain invocation, one that fails with 500 after putting a
 * distribution, and one with 250 metrics (split into 3 documents). 5 documents in all. */
#include <stdio.h>
#include <unistd.h>

#include "moonbase/emf.h"

int main(void) {
    mb_err err = {0};
    mb_emf *emf = mb_emf_new(NULL, "test", STDOUT_FILENO, &err);
    if (!emf) {
        fprintf(stderr, "emf_sample: %s\n", err.msg);
        return 1;
    }
    int rc = 0;
    mb_emf_begin(emf, MB_CUR_LIT("GET /hello"));
    mb_emf_set_request(emf, MB_CUR_LIT("req-1"),
                       MB_CUR_LIT("Root=1-67891233-abcdef012345678912345678"));
    rc |= mb_emf_put(emf, MB_CUR_LIT("Greetings"), 1, MB_CUR_LIT("Count"), &err);
    mb_emf_finish(emf, 200, 3.25, true, 0);

    mb_emf_begin(emf, MB_CUR_LIT("POST /items"));
    for (int i = 0; i < 100; i++) {
        rc |= mb_emf_put(emf, MB_CUR_LIT("DbLatency"), i * 0.1, MB_CUR_LIT("Milliseconds"), &err);
    }
    rc |= mb_emf_put(emf, MB_CUR_LIT("PayloadSize"), 2048, MB_CUR_LIT("Bytes"), &err);
    mb_emf_finish(emf, 500, 10, false, 0);

    mb_emf_begin(emf, MB_CUR_LIT("GET /bulk"));
    char name[16];
    for (int i = 0; i < 250; i++) {
        snprintf(name, sizeof name, "Metric%d", i);
        rc |= mb_emf_put(emf, mb_cur_from_cstr(name), i, MB_CUR_LIT("Count/Second"), &err);
    }
    mb_emf_finish(emf, 404, 1, false, 0);
    mb_emf_free(emf);
    if (rc != 0) {
        fprintf(stderr, "emf_sample: %s\n", err.msg);
        return 1;
    }
    return 0;
}
