/* clock.c - the real clock behind the mb_clock seam (see moonbase/clock.h). */
#include "moonbase/clock.h"

#include <time.h>

int64_t mb_clock_now_ms(const mb_clock *clock) {
    if (clock && clock->now_ms) {
        return clock->now_ms(clock->ud);
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t mb_clock_now_s(const mb_clock *clock) {
    if (clock && clock->now_ms) {
        return clock->now_ms(clock->ud) / 1000;
    }
    return (int64_t)time(NULL);
}

int64_t mb_clock_mono_ns(const mb_clock *clock) {
    if (clock && clock->mono_ns) {
        return clock->mono_ns(clock->ud);
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void mb_clock_sleep_ms(const mb_clock *clock, int64_t ms) {
    if (ms <= 0) {
        return;
    }
    if (clock && clock->sleep_ms) {
        clock->sleep_ms(clock->ud, ms);
        return;
    }
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}
