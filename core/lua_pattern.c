/* lua_pattern.c - Lua 5.4.4's pattern matcher (string.find, match, gmatch, gsub) with a step
 * meter, so a hostile pattern cannot run past the sandbox's budget inside one C call
 * (moonbase/lua_pattern.h).
 *
 * Vendored from the "PATTERN MATCHING" section of Lua 5.4.4's lstrlib.c, function for function
 * (upstream names behind an s_ prefix, house formatting, braces); that section is unchanged in
 * 5.4.8, the VM in third_party/lua (one comment's wording aside). The behavioural changes:
 *  - match_state counts steps (see s_match for what is paid where) and pays them through
 *    s_step() / s_pay(), which raise the charge function's message when it refuses; a scan or a
 *    compare is charged by its length (*_BYTES_PER_STEP), and long compares run in blocks so
 *    they can be stopped;
 *  - matchdepth is reset on every match attempt (upstream asserts it), so a gmatch iterator
 *    stopped in the middle of a match is left in a usable state.
 * Like upstream, this code raises Lua errors from inside the matcher (malformed patterns, the
 * meter); it holds no C resources, so unwinding through it is safe.
 *
 * Copyright (C) 1994-2022 Lua.org, PUC-Rio.
 *
 * Permission is hereby granted, free of charge, to any person obtaining a copy of this software
 * and associated documentation files (the "Software"), to deal in the Software without
 * restriction, including without limitation the rights to use, copy, modify, merge, publish,
 * distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom the
 * Software is furnished to do so, subject to the following conditions:
 *
 * The above copyright notice and this permission notice shall be included in all copies or
 * substantial portions of the Software.
 *
 * THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING
 * BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
 * NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
 * DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
 * OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE. */
#include "moonbase/lua_pattern.h"

#include <ctype.h>
#include <stddef.h>
#include <string.h>

#include <lauxlib.h>

/* Upstream's defaults (luaconf.h / lstrlib.c), which Debian's liblua5.4 keeps. */
#define MAXCAPTURES 32
#define MAXCCALLS 200

#define L_ESC '%'
#define SPECIALS "^$*+?.([%-"
#define CAP_UNFINISHED (-1)
#define CAP_POSITION (-2)

#define uchar(c) ((unsigned char)(c))
#define l_unlikely(x) luai_unlikely(x) /* luaconf.h defines it only for Lua's own files */

/* Bulk work is paid by length, at rates measured (x86-64, gcc -O2) to keep a step at the 3-4 ns
 * that a step of the matcher itself takes on backtracking patterns: byte-at-a-time loops of this
 * file (bracket class walks, the %b scan, a greedy expansion's scan) run at about 0.5-0.6 ns a
 * byte; libc's memcmp and memchr go through 64 bytes in well under that. */
#define SCAN_BYTES_PER_STEP 4
#define CMP_BYTES_PER_STEP 64
/* Long compares run in blocks of CMP_BLOCK bytes, each paid before it runs: a compare of two
 * megabyte-long strings is a single memcmp upstream but must still stop in bounded time. */
#define CMP_BLOCK 1024

typedef struct meter {
    mb_lua_pattern_charge_fn charge;
    void *ud;
} meter;

typedef struct match_state {
    const char *src_init; /* init of source string */
    const char *src_end;  /* end ('\0') of source string */
    const char *p_end;    /* end ('\0') of pattern */
    lua_State *L;
    const meter *meter;
    size_t steps;        /* steps run since the last payment */
    int matchdepth;      /* control for recursive depth (to avoid C stack overflow) */
    unsigned char level; /* total number of captures (finished or unfinished) */
    struct {
        const char *init;
        ptrdiff_t len;
    } capture[MAXCAPTURES];
} match_state;

/* ---- the meter ---- */

/* Pay the steps run so far; raise the charge function's message if it refuses (luaL_error
 * prefixes the position of the Lua code that called find/match/gmatch/gsub). */
__attribute__((noinline)) static void s_pay(match_state *ms) {
    size_t steps = ms->steps;
    ms->steps = 0;
    const char *msg = ms->meter->charge(ms->L, ms->meter->ud, steps);
    if (msg) {
        luaL_error(ms->L, "%s", msg);
    }
}

/* Count n steps; pay every MB_LUA_PATTERN_CHARGE_EVERY. The hot path is an add and a compare. */
static inline void s_step(match_state *ms, size_t n) {
    ms->steps += n;
    if (l_unlikely(ms->steps >= MB_LUA_PATTERN_CHARGE_EVERY)) {
        s_pay(ms);
    }
}

/* memcmp(a, b, len) == 0, paid block by block: a step plus one per CMP_BYTES_PER_STEP bytes. */
static int s_memeq(match_state *ms, const char *a, const char *b, size_t len) {
    while (len > CMP_BLOCK) {
        s_step(ms, CMP_BLOCK / CMP_BYTES_PER_STEP);
        if (memcmp(a, b, CMP_BLOCK) != 0) {
            return 0;
        }
        a += CMP_BLOCK;
        b += CMP_BLOCK;
        len -= CMP_BLOCK;
    }
    s_step(ms, 1 + len / CMP_BYTES_PER_STEP);
    return memcmp(a, b, len) == 0;
}

/* The cost of reading or matching the single char class p..ep beyond the step it is part of: zero
 * but for long bracket classes, which s_classend and s_matchbracketclass walk byte by byte. */
static inline size_t s_class_steps(const char *p, const char *ep) {
    return (size_t)(ep - p) / SCAN_BYTES_PER_STEP;
}

/* ---- the matcher (lstrlib.c 5.4.4) ---- */

static const char *s_match(match_state *ms, const char *s, const char *p);

static int s_check_capture(match_state *ms, int l) {
    l -= '1';
    if (l_unlikely(l < 0 || l >= ms->level || ms->capture[l].len == CAP_UNFINISHED)) {
        return luaL_error(ms->L, "invalid capture index %%%d", l + 1);
    }
    return l;
}

static int s_capture_to_close(match_state *ms) {
    int level = ms->level;
    for (level--; level >= 0; level--) {
        if (ms->capture[level].len == CAP_UNFINISHED) {
            return level;
        }
    }
    return luaL_error(ms->L, "invalid pattern capture");
}

static const char *s_classend(match_state *ms, const char *p) {
    switch (*p++) {
    case L_ESC: {
        if (l_unlikely(p == ms->p_end)) {
            luaL_error(ms->L, "malformed pattern (ends with '%%')");
        }
        return p + 1;
    }
    case '[': {
        if (*p == '^') {
            p++;
        }
        do { /* look for a ']' */
            if (l_unlikely(p == ms->p_end)) {
                luaL_error(ms->L, "malformed pattern (missing ']')");
            }
            if (*(p++) == L_ESC && p < ms->p_end) {
                p++; /* skip escapes (e.g. '%]') */
            }
        } while (*p != ']');
        return p + 1;
    }
    default: {
        return p;
    }
    }
}

static int s_match_class(int c, int cl) {
    int res;
    switch (tolower(cl)) {
    case 'a':
        res = isalpha(c);
        break;
    case 'c':
        res = iscntrl(c);
        break;
    case 'd':
        res = isdigit(c);
        break;
    case 'g':
        res = isgraph(c);
        break;
    case 'l':
        res = islower(c);
        break;
    case 'p':
        res = ispunct(c);
        break;
    case 's':
        res = isspace(c);
        break;
    case 'u':
        res = isupper(c);
        break;
    case 'w':
        res = isalnum(c);
        break;
    case 'x':
        res = isxdigit(c);
        break;
    case 'z': /* deprecated option */
        res = (c == 0);
        break;
    default:
        return (cl == c);
    }
    return (islower(cl) ? res : !res);
}

static int s_matchbracketclass(int c, const char *p, const char *ec) {
    int sig = 1;
    if (*(p + 1) == '^') {
        sig = 0;
        p++; /* skip the '^' */
    }
    while (++p < ec) {
        if (*p == L_ESC) {
            p++;
            if (s_match_class(c, uchar(*p))) {
                return sig;
            }
        } else if ((*(p + 1) == '-') && (p + 2 < ec)) {
            p += 2;
            if (uchar(*(p - 2)) <= c && c <= uchar(*p)) {
                return sig;
            }
        } else if (uchar(*p) == c) {
            return sig;
        }
    }
    return !sig;
}

static int s_singlematch(match_state *ms, const char *s, const char *p, const char *ep) {
    if (s >= ms->src_end) {
        return 0;
    }
    int c = uchar(*s);
    switch (*p) {
    case '.':
        return 1; /* matches any char */
    case L_ESC:
        return s_match_class(c, uchar(*(p + 1)));
    case '[':
        return s_matchbracketclass(c, p, ep - 1);
    default:
        return (uchar(*p) == c);
    }
}

static const char *s_matchbalance(match_state *ms, const char *s, const char *p) {
    if (l_unlikely(p >= ms->p_end - 1)) {
        luaL_error(ms->L, "malformed pattern (missing arguments to '%%b')");
    }
    if (*s != *p) {
        s_step(ms, 1); /* meter: the item */
        return NULL;
    }
    const char *start = s;
    int b = *p;
    int e = *(p + 1);
    int cont = 1;
    while (++s < ms->src_end) {
        if (*s == e) {
            if (--cont == 0) {
                s_step(ms, 1 + (size_t)(s - start) / SCAN_BYTES_PER_STEP); /* meter: as below */
                return s + 1;
            }
        } else if (*s == b) {
            cont++;
        }
    }
    s_step(ms, 1 + (size_t)(s - start) / SCAN_BYTES_PER_STEP); /* meter: the item and its scan */
    return NULL;                                               /* string ends out of balance */
}

static const char *s_max_expand(match_state *ms, const char *s, const char *p, const char *ep) {
    ptrdiff_t i = 0; /* counts maximum expand for item */
    size_t per = s_class_steps(p, ep);
    if (per == 0) {
        while (s_singlematch(ms, s + i, p, ep)) {
            i++;
        }
        s_step(ms, (size_t)i / SCAN_BYTES_PER_STEP); /* meter: the scan */
    } else {
        while (s_singlematch(ms, s + i, p, ep)) {
            i++;
            s_step(ms, per); /* meter: each walk of a long class */
        }
    }
    /* keeps trying to match with the maximum repetitions */
    while (i >= 0) {
        s_step(ms, 1); /* meter: one backtrack */
        const char *res = s_match(ms, (s + i), ep + 1);
        if (res) {
            return res;
        }
        i--; /* else didn't match; reduce 1 repetition to try again */
    }
    return NULL;
}

static const char *s_min_expand(match_state *ms, const char *s, const char *p, const char *ep) {
    size_t per = 1 + s_class_steps(p, ep); /* meter: per expansion */
    for (;;) {
        s_step(ms, per);
        const char *res = s_match(ms, s, ep + 1);
        if (res != NULL) {
            return res;
        } else if (s_singlematch(ms, s, p, ep)) {
            s++; /* try with one more repetition */
        } else {
            return NULL;
        }
    }
}

static const char *s_start_capture(match_state *ms, const char *s, const char *p, int what) {
    const char *res;
    int level = ms->level;
    if (level >= MAXCAPTURES) {
        luaL_error(ms->L, "too many captures");
    }
    ms->capture[level].init = s;
    ms->capture[level].len = what;
    ms->level = (unsigned char)(level + 1);
    if ((res = s_match(ms, s, p)) == NULL) { /* match failed? */
        ms->level--;                         /* undo capture */
    }
    return res;
}

static const char *s_end_capture(match_state *ms, const char *s, const char *p) {
    int l = s_capture_to_close(ms);
    const char *res;
    ms->capture[l].len = s - ms->capture[l].init; /* close capture */
    if ((res = s_match(ms, s, p)) == NULL) {      /* match failed? */
        ms->capture[l].len = CAP_UNFINISHED;      /* undo capture */
    }
    return res;
}

static const char *s_match_capture(match_state *ms, const char *s, int l) {
    size_t len;
    l = s_check_capture(ms, l);
    len = (size_t)ms->capture[l].len;
    if ((size_t)(ms->src_end - s) >= len && s_memeq(ms, ms->capture[l].init, s, len)) {
        return s + len;
    }
    return NULL;
}

/* Upstream's match(), kept as one function with its gotos (tail calls written as jumps): split
 * into helpers it ran 10% more instructions on typical patterns.
 * The meter pays a step per pattern item handled: a char class (here, with its class walks), %f
 * (here), %b (s_matchbalance), a back-reference (s_match_capture), a capture's start
 * (the '(' case); and a step per call of the loops that call s_match again (s_max_expand's
 * backtracking, s_min_expand). Left unpaid: ')' and '$' (at most MAXCAPTURES + 1 per paid item)
 * and the attempts of find/gmatch/gsub at each subject position, which are linear in the subject
 * and each either pays for its first item or stops at once. */
static const char *s_match(match_state *ms, const char *s, const char *p) {
    if (l_unlikely(ms->matchdepth-- == 0)) {
        luaL_error(ms->L, "pattern too complex");
    }
init:                     /* using goto's to optimize tail recursion */
    if (p != ms->p_end) { /* end of pattern? */
        switch (*p) {
        case '(': {                /* start capture */
            s_step(ms, 1);         /* meter: the item */
            if (*(p + 1) == ')') { /* position capture? */
                s = s_start_capture(ms, s, p + 2, CAP_POSITION);
            } else {
                s = s_start_capture(ms, s, p + 1, CAP_UNFINISHED);
            }
            break;
        }
        case ')': { /* end capture */
            s = s_end_capture(ms, s, p + 1);
            break;
        }
        case '$': {
            if ((p + 1) != ms->p_end) { /* is the '$' the last char in pattern? */
                goto dflt;              /* no; go to default */
            }
            s = (s == ms->src_end) ? s : NULL; /* check end of string */
            break;
        }
        case L_ESC: { /* escaped sequences not in the format class[*+?-]? */
            switch (*(p + 1)) {
            case 'b': { /* balanced string? */
                s = s_matchbalance(ms, s, p + 2);
                if (s != NULL) {
                    p += 4;
                    goto init; /* return match(ms, s, p + 4); */
                }              /* else fail (s == NULL) */
                break;
            }
            case 'f': { /* frontier? */
                const char *ep;
                char previous;
                p += 2;
                if (l_unlikely(*p != '[')) {
                    luaL_error(ms->L, "missing '[' after '%%f' in pattern");
                }
                ep = s_classend(ms, p); /* points to what is next */
                previous = (s == ms->src_init) ? '\0' : *(s - 1);
                s_step(ms, 1 + 3 * s_class_steps(p, ep)); /* meter: the item, 3 class walks */
                if (!s_matchbracketclass(uchar(previous), p, ep - 1) &&
                    s_matchbracketclass(uchar(*s), p, ep - 1)) {
                    p = ep;
                    goto init; /* return match(ms, s, ep); */
                }
                s = NULL; /* match failed */
                break;
            }
            case '0':
            case '1':
            case '2':
            case '3':
            case '4':
            case '5':
            case '6':
            case '7':
            case '8':
            case '9': { /* capture results (%0-%9)? */
                s = s_match_capture(ms, s, uchar(*(p + 1)));
                if (s != NULL) {
                    p += 2;
                    goto init; /* return match(ms, s, p + 2) */
                }
                break;
            }
            default:
                goto dflt;
            }
            break;
        }
        default:
        dflt : {                                      /* pattern class plus optional suffix */
            const char *ep = s_classend(ms, p);       /* points to optional suffix */
            s_step(ms, 1 + 2 * s_class_steps(p, ep)); /* meter: the item, two class walks */
            /* does not match at least once? */
            if (!s_singlematch(ms, s, p, ep)) {
                if (*ep == '*' || *ep == '?' || *ep == '-') { /* accept empty? */
                    p = ep + 1;
                    goto init; /* return match(ms, s, ep + 1); */
                }
                s = NULL;      /* '+' or no suffix: fail */
            } else {           /* matched once */
                switch (*ep) { /* handle optional suffix */
                case '?': {    /* optional */
                    const char *res;
                    if ((res = s_match(ms, s + 1, ep + 1)) != NULL) {
                        s = res;
                    } else {
                        p = ep + 1;
                        goto init; /* else return match(ms, s, ep + 1); */
                    }
                    break;
                }
                case '+': /* 1 or more repetitions */
                    s++;  /* 1 match already done */
                    /* FALLTHROUGH */
                case '*': /* 0 or more repetitions */
                    s = s_max_expand(ms, s, p, ep);
                    break;
                case '-': /* 0 or more repetitions (minimum) */
                    s = s_min_expand(ms, s, p, ep);
                    break;
                default: /* no suffix */
                    s++;
                    p = ep;
                    goto init; /* return match(ms, s + 1, ep); */
                }
            }
            break;
        }
        }
    }
    ms->matchdepth++;
    return s;
}

/* Plain search (upstream lmemfind) with each candidate's compare paid. */
static const char *s_lmemfind(match_state *ms, const char *s1, size_t l1, const char *s2,
                              size_t l2) {
    if (l2 == 0) {
        return s1; /* empty strings are everywhere */
    } else if (l2 > l1) {
        return NULL; /* avoids a negative 'l1' */
    }
    const char *init; /* to search for a '*s2' inside 's1' */
    l2--;             /* 1st char will be checked by 'memchr' */
    l1 = l1 - l2;     /* 's2' cannot be found after that */
    while (l1 > 0 && (init = memchr(s1, *s2, l1)) != NULL) {
        s_step(ms, 1 + (size_t)(init - s1) / CMP_BYTES_PER_STEP); /* meter: the memchr scan */
        init++;                                                   /* 1st char is already checked */
        if (s_memeq(ms, init, s2 + 1, l2)) {
            return init - 1;
        }
        /* correct 'l1' and 's1' to try again */
        l1 -= (size_t)(init - s1);
        s1 = init;
    }
    return NULL; /* not found */
}

/* ---- captures ---- */

/* Information about the i-th capture. If there are no captures and i == 0, the whole match
 * s..e. A string capture returns its length and sets *cap; a position capture is pushed and
 * CAP_POSITION returned. */
static ptrdiff_t s_get_onecapture(match_state *ms, int i, const char *s, const char *e,
                                  const char **cap) {
    if (i >= ms->level) {
        if (l_unlikely(i != 0)) {
            luaL_error(ms->L, "invalid capture index %%%d", i + 1);
        }
        *cap = s;
        return e - s;
    }
    ptrdiff_t capl = ms->capture[i].len;
    *cap = ms->capture[i].init;
    if (l_unlikely(capl == CAP_UNFINISHED)) {
        luaL_error(ms->L, "unfinished capture");
    } else if (capl == CAP_POSITION) {
        lua_pushinteger(ms->L, (ms->capture[i].init - ms->src_init) + 1);
    }
    return capl;
}

/* Push the i-th capture. [-0, +1, e] */
static void s_push_onecapture(match_state *ms, int i, const char *s, const char *e) {
    const char *cap;
    ptrdiff_t l = s_get_onecapture(ms, i, s, e, &cap);
    if (l != CAP_POSITION) {
        lua_pushlstring(ms->L, cap, (size_t)l);
    } /* else position was already pushed */
}

/* Push every capture (or the whole match); returns how many. [-0, +n, e] */
static int s_push_captures(match_state *ms, const char *s, const char *e) {
    int nlevels = (ms->level == 0 && s) ? 1 : ms->level;
    luaL_checkstack(ms->L, nlevels, "too many captures");
    for (int i = 0; i < nlevels; i++) {
        s_push_onecapture(ms, i, s, e);
    }
    return nlevels; /* number of strings pushed */
}

/* ---- find, match, gmatch, gsub ---- */

/* Translate a relative initial string position (negative means back from the end): clip the
 * result to [1, inf). */
static size_t s_posrelat(lua_Integer pos, size_t len) {
    if (pos > 0) {
        return (size_t)pos;
    } else if (pos == 0) {
        return 1;
    } else if (pos < -(lua_Integer)len) { /* inverted comparison */
        return 1;                         /* clip to 1 */
    }
    return len + (size_t)pos + 1;
}

/* Whether the pattern has no special characters (it may hold '\0's). */
static int s_nospecials(const char *p, size_t l) {
    size_t upto = 0;
    do {
        if (strpbrk(p + upto, SPECIALS)) {
            return 0; /* pattern has a special character */
        }
        upto += strlen(p + upto) + 1; /* may have more after \0 */
    } while (upto <= l);
    return 1; /* no special chars found */
}

static void s_prepstate(match_state *ms, lua_State *L, const meter *m, const char *s, size_t ls,
                        const char *p, size_t lp) {
    ms->L = L;
    ms->meter = m;
    ms->steps = 0;
    ms->matchdepth = MAXCCALLS;
    ms->src_init = s;
    ms->src_end = s + ls;
    ms->p_end = p + lp;
}

static void s_reprepstate(match_state *ms) {
    ms->level = 0;
    ms->matchdepth = MAXCCALLS; /* upstream asserts it; the meter may have unwound a match */
}

static const meter *s_meter(lua_State *L) {
    return lua_touserdata(L, lua_upvalueindex(1));
}

/* Pay the remainder of a call that returns normally, then return n (its result count). */
static int s_done(match_state *ms, int n) {
    s_pay(ms);
    return n;
}

/* string.find(s, pattern [, init [, plain]]) and string.match(s, pattern [, init]).
 * [-(2|3|4), +(1|n), e] */
static int s_find_aux(lua_State *L, int find) {
    size_t ls, lp;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    size_t init = s_posrelat(luaL_optinteger(L, 3, 1), ls) - 1;
    match_state ms;
    if (init > ls) {      /* start after string's end? */
        luaL_pushfail(L); /* cannot find anything */
        return 1;
    }
    s_prepstate(&ms, L, s_meter(L), s, ls, p, lp);
    /* explicit request or no special characters? */
    if (find && (lua_toboolean(L, 4) || s_nospecials(p, lp))) {
        /* do a plain search */
        const char *s2 = s_lmemfind(&ms, s + init, ls - init, p, lp);
        if (s2) {
            lua_pushinteger(L, (s2 - s) + 1);
            lua_pushinteger(L, (lua_Integer)((size_t)(s2 - s) + lp));
            return s_done(&ms, 2);
        }
    } else {
        const char *s1 = s + init;
        int anchor = (*p == '^');
        if (anchor) {
            p++;
            lp--; /* skip anchor character */
            ms.p_end = p + lp;
        }
        do {
            const char *res;
            s_reprepstate(&ms);
            if ((res = s_match(&ms, s1, p)) != NULL) {
                if (find) {
                    lua_pushinteger(L, (s1 - s) + 1); /* start */
                    lua_pushinteger(L, res - s);      /* end */
                    return s_done(&ms, s_push_captures(&ms, NULL, 0) + 2);
                }
                return s_done(&ms, s_push_captures(&ms, s1, res));
            }
        } while (s1++ < ms.src_end && !anchor);
    }
    luaL_pushfail(L); /* not found */
    return s_done(&ms, 1);
}

static int s_str_find(lua_State *L) {
    return s_find_aux(L, 1);
}

static int s_str_match(lua_State *L) {
    return s_find_aux(L, 0);
}

/* state for 'gmatch' */
typedef struct gmatch_state {
    const char *src;       /* current position */
    const char *p;         /* pattern */
    const char *lastmatch; /* end of last match */
    match_state ms;        /* match state */
} gmatch_state;

/* The iterator; upvalues: s, pattern, state, meter (kept alive by the closure). */
static int s_gmatch_aux(lua_State *L) {
    gmatch_state *gm = lua_touserdata(L, lua_upvalueindex(3));
    gm->ms.L = L;
    for (const char *src = gm->src; src <= gm->ms.src_end; src++) {
        const char *e;
        s_reprepstate(&gm->ms);
        if ((e = s_match(&gm->ms, src, gm->p)) != NULL && e != gm->lastmatch) {
            gm->src = gm->lastmatch = e;
            return s_done(&gm->ms, s_push_captures(&gm->ms, src, e));
        }
    }
    return s_done(&gm->ms, 0); /* not found */
}

/* string.gmatch(s, pattern [, init]) [-(2|3), +1, m] */
static int s_gmatch(lua_State *L) {
    size_t ls, lp;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    size_t init = s_posrelat(luaL_optinteger(L, 3, 1), ls) - 1;
    lua_settop(L, 2); /* keep strings on closure to avoid being collected */
    gmatch_state *gm = lua_newuserdatauv(L, sizeof(gmatch_state), 0);
    if (init > ls) {   /* start after string's end? */
        init = ls + 1; /* avoid overflows in 's + init' */
    }
    s_prepstate(&gm->ms, L, s_meter(L), s, ls, p, lp);
    gm->src = s + init;
    gm->p = p;
    gm->lastmatch = NULL;
    lua_pushvalue(L, lua_upvalueindex(1)); /* stack: s, p, state, meter */
    lua_pushcclosure(L, s_gmatch_aux, 4);
    return 1;
}

/* Append the replacement string (argument 3) with its %0-%9 and %% items expanded. */
static void s_add_s(match_state *ms, luaL_Buffer *b, const char *s, const char *e) {
    size_t l;
    lua_State *L = ms->L;
    const char *news = lua_tolstring(L, 3, &l);
    const char *p;
    while ((p = memchr(news, L_ESC, l)) != NULL) {
        s_step(ms, 1 + (size_t)(p - news) / CMP_BYTES_PER_STEP); /* meter: each item */
        luaL_addlstring(b, news, (size_t)(p - news));
        p++;               /* skip ESC */
        if (*p == L_ESC) { /* '%%' */
            luaL_addchar(b, *p);
        } else if (*p == '0') { /* '%0' */
            luaL_addlstring(b, s, (size_t)(e - s));
        } else if (isdigit(uchar(*p))) { /* '%n' */
            const char *cap;
            ptrdiff_t resl = s_get_onecapture(ms, *p - '1', s, e, &cap);
            if (resl == CAP_POSITION) {
                luaL_addvalue(b); /* add position to accumulated result */
            } else {
                luaL_addlstring(b, cap, (size_t)resl);
            }
        } else {
            luaL_error(L, "invalid use of '%c' in replacement string", L_ESC);
        }
        l -= (size_t)(p + 1 - news);
        news = p + 1;
    }
    luaL_addlstring(b, news, l);
}

/* Add the replacement value to the string buffer b. Return true if the original string was
 * changed. (Function calls and table indexing resulting in nil or false do not change the
 * subject.) */
static int s_add_value(match_state *ms, luaL_Buffer *b, const char *s, const char *e, int tr) {
    lua_State *L = ms->L;
    switch (tr) {
    case LUA_TFUNCTION: { /* call the function */
        lua_pushvalue(L, 3);
        int n = s_push_captures(ms, s, e); /* all captures as arguments */
        lua_call(L, n, 1);                 /* call it (the count hook meters the Lua side) */
        break;
    }
    case LUA_TTABLE: {                  /* index the table */
        s_push_onecapture(ms, 0, s, e); /* first capture is the index */
        lua_gettable(L, 3);
        break;
    }
    default: {                /* LUA_TNUMBER or LUA_TSTRING */
        s_add_s(ms, b, s, e); /* add value to the buffer */
        return 1;             /* something changed */
    }
    }
    if (!lua_toboolean(L, -1)) {                /* nil or false? */
        lua_pop(L, 1);                          /* remove value */
        luaL_addlstring(b, s, (size_t)(e - s)); /* keep original text */
        return 0;                               /* no changes */
    } else if (l_unlikely(!lua_isstring(L, -1))) {
        return luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
    }
    luaL_addvalue(b); /* add result to accumulator */
    return 1;         /* something changed */
}

/* string.gsub(s, pattern, repl [, n]) [-(3|4), +2, e] */
static int s_str_gsub(lua_State *L) {
    size_t srcl, lp;
    const char *src = luaL_checklstring(L, 1, &srcl);                 /* subject */
    const char *p = luaL_checklstring(L, 2, &lp);                     /* pattern */
    const char *lastmatch = NULL;                                     /* end of last match */
    int tr = lua_type(L, 3);                                          /* replacement type */
    lua_Integer max_s = luaL_optinteger(L, 4, (lua_Integer)srcl + 1); /* max replacements */
    int anchor = (*p == '^');
    lua_Integer n = 0; /* replacement count */
    int changed = 0;   /* change flag */
    match_state ms;
    luaL_Buffer b;
    luaL_argexpected(
        L, tr == LUA_TNUMBER || tr == LUA_TSTRING || tr == LUA_TFUNCTION || tr == LUA_TTABLE, 3,
        "string/function/table");
    luaL_buffinit(L, &b);
    if (anchor) {
        p++;
        lp--; /* skip anchor character */
    }
    s_prepstate(&ms, L, s_meter(L), src, srcl, p, lp);
    while (n < max_s) {
        const char *e;
        s_reprepstate(&ms);                                         /* (re)prepare state */
        if ((e = s_match(&ms, src, p)) != NULL && e != lastmatch) { /* match? */
            n++;
            changed = s_add_value(&ms, &b, src, e, tr) | changed;
            src = lastmatch = e;
        } else if (src < ms.src_end) { /* otherwise, skip one character */
            luaL_addchar(&b, *src++);
        } else {
            break; /* end of subject */
        }
        if (anchor) {
            break;
        }
    }
    if (!changed) {          /* no changes? */
        lua_pushvalue(L, 1); /* return original string */
    } else {                 /* something changed */
        luaL_addlstring(&b, src, (size_t)(ms.src_end - src));
        luaL_pushresult(&b); /* create and return new string */
    }
    lua_pushinteger(L, n); /* number of substitutions */
    return s_done(&ms, 2);
}

/* ---- injection ---- */

void mb_lua_pattern_inject(lua_State *L, int idx, mb_lua_pattern_charge_fn charge, void *ud) {
    static const luaL_Reg fns[] = {{"find", s_str_find},
                                   {"match", s_str_match},
                                   {"gmatch", s_gmatch},
                                   {"gsub", s_str_gsub},
                                   {NULL, NULL}};
    idx = lua_absindex(L, idx);
    meter *m = lua_newuserdatauv(L, sizeof *m, 0); /* stack: meter */
    m->charge = charge;
    m->ud = ud;
    lua_pushvalue(L, idx);    /* stack: meter, lib */
    lua_insert(L, -2);        /* stack: lib, meter */
    luaL_setfuncs(L, fns, 1); /* each closes over the meter; pops it */
    lua_pop(L, 1);
}
