/* moonbase/numfmt.h - numbers as JSON text, without allocating: exact 64-bit integers and the
 * shortest decimal form of a double that reads back to the same double. Shared by the JSON
 * encoder, the logger and the EMF writer, which all must print the same value the same way.
 * Ownership: the caller provides the output array; nothing is allocated. */
#ifndef MOONBASE_NUMFMT_H
#define MOONBASE_NUMFMT_H

#include <stddef.h>
#include <stdint.h>

/* Enough for any int64 ("-9223372036854775808") and any double in %.17g form. */
#define MB_NUMFMT_MAX 40

/* Write v in decimal into out (at least MB_NUMFMT_MAX bytes, not NUL-terminated); returns the
 * length. */
size_t mb_numfmt_int(char *out, int64_t v);

/* Write a finite double: integral values below 2^53 as integers ("5", not "5.0"), values with at
 * most three decimals without snprintf (latencies in ms, most metrics), others as the shorter of
 * %.15g and %.17g that reads back exactly. Returns the length, or 0 for NaN and infinities (not
 * representable in JSON: the caller decides what to write). */
size_t mb_numfmt_double(char *out, double v);

#endif
