/* moonbase/clock.h - the one clock seam: wall time, monotonic time and sleeping, either the
 * real ones or a test's. Every module that reads the time takes a `const mb_clock *` (or holds a
 * copy) and asks it through these functions, so a test can script time for any of them.
 * Ownership: an mb_clock is a small value (three function pointers and their user data); the
 * caller keeps `ud` alive while the clock is in use. NULL, or a NULL member, means the real
 * clock for that member, so a zeroed mb_clock is the real one. Thread-safe if `ud` is. */
#ifndef MOONBASE_CLOCK_H
#define MOONBASE_CLOCK_H

#include <stdint.h>

typedef struct mb_clock {
    int64_t (*now_ms)(void *ud);            /* wall clock, milliseconds since the epoch (UTC) */
    int64_t (*mono_ns)(void *ud);           /* monotonic clock, nanoseconds from any origin */
    void (*sleep_ms)(void *ud, int64_t ms); /* block the calling thread for ms milliseconds */
    void *ud;
} mb_clock;

/* Wall-clock milliseconds since the epoch: CLOCK_REALTIME, or clock->now_ms. The Lambda
 * deadline, log timestamps, EMF timestamps and SigV4 dates are all on this clock. */
int64_t mb_clock_now_ms(const mb_clock *clock);
/* Wall-clock seconds since the epoch: time(), or clock->now_ms / 1000. For second-granular
 * checks on hot paths (JWT exp/nbf on every cached verify): where the VM's clock source has no
 * vDSO fast path, clock_gettime(CLOCK_REALTIME) is a ~240 ns system call and time() ~7 ns. */
int64_t mb_clock_now_s(const mb_clock *clock);
/* Monotonic nanoseconds (CLOCK_MONOTONIC, or clock->mono_ns): durations and cache ages, which
 * must not jump when the wall clock is set. */
int64_t mb_clock_mono_ns(const mb_clock *clock);
/* Sleep ms milliseconds (nanosleep, resumed after signals; or clock->sleep_ms). ms <= 0 returns
 * at once. */
void mb_clock_sleep_ms(const mb_clock *clock, int64_t ms);

#endif
