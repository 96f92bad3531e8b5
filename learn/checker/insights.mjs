// learn/checker/insights.mjs - a small evaluator for a subset of the CloudWatch Logs Insights query
// language, so that a learner's query can be run locally against recorded log lines (JSON lines,
// as the runtime writes them) and its result compared with the expected one.
//
// Supported (anything else is refused with a message naming it, never silently ignored):
//   fields a, b as c          which columns to show (later commands still see every field)
//   display a, b              the same, as the last word on columns
//   filter <condition>        = != < <= > >=, and, or, not, (), like "text" / like /regex/,
//                             =~ /regex/, in [v, ...], not in, ispresent(f), isempty(f)
//   stats f(x) [as n], ... [by a, b]
//                             count(*), count(x), count_distinct(x), sum, avg, min, max,
//                             pct(x, p) (nearest rank), earliest(x), latest(x) (by @timestamp)
//   sort a [asc|desc], ...    default desc, as in Logs Insights
//   limit n
//   # comments to the end of the line
// Fields: the JSON members of each line (nested ones as a.b), @timestamp (the line's timestamp,
// or its EMF _aws.Timestamp) and @message (the line itself). Differences from AWS that a learner
// may meet: pct() here is exact (AWS approximates), and parse, dedup, bin() and arithmetic are
// not supported.

export class QueryError extends Error {}

// ---- tokens ----

const PUNCT = ['<=', '>=', '!=', '=~', '|', ',', '(', ')', '[', ']', '=', '<', '>', '*'];

function tokenize(text) {
  const out = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (/\s/.test(c)) { i++; continue; }
    if (c === '#') { while (i < text.length && text[i] !== '\n') i++; continue; }
    if (c === '"' || c === "'") {
      let j = i + 1;
      let s = '';
      while (j < text.length && text[j] !== c) {
        if (text[j] === '\\' && j + 1 < text.length) j++;
        s += text[j++];
      }
      if (j >= text.length) throw new QueryError(`unterminated string starting at ${text.slice(i, i + 20)}`);
      out.push({ t: 'str', v: s });
      i = j + 1;
      continue;
    }
    if (c === '/' && out.length && ['like', '=~'].includes(out[out.length - 1].v)) {
      let j = i + 1;
      let s = '';
      while (j < text.length && text[j] !== '/') {
        if (text[j] === '\\' && j + 1 < text.length) { s += text[j++]; }
        s += text[j++];
      }
      if (j >= text.length) throw new QueryError('unterminated /regex/');
      let flags = '';
      j++;
      while (j < text.length && /[a-z]/.test(text[j])) flags += text[j++];
      out.push({ t: 're', v: new RegExp(s, flags.replace(/[^imsu]/g, '')) });
      i = j;
      continue;
    }
    if (c === '`') {
      const j = text.indexOf('`', i + 1);
      if (j < 0) throw new QueryError('unterminated `field`');
      out.push({ t: 'id', v: text.slice(i + 1, j) });
      i = j + 1;
      continue;
    }
    const num = /^-?\d+(\.\d+)?/.exec(text.slice(i));
    if (num && (c !== '-' || !out.length || out[out.length - 1].t === 'op')) {
      out.push({ t: 'num', v: Number(num[0]) });
      i += num[0].length;
      continue;
    }
    const p = PUNCT.find((x) => text.startsWith(x, i));
    if (p) { out.push({ t: 'op', v: p }); i += p.length; continue; }
    const id = /^[@A-Za-z_][\w.@-]*/.exec(text.slice(i));
    if (id) { out.push({ t: 'id', v: id[0] }); i += id[0].length; continue; }
    throw new QueryError(`unexpected character "${c}"`);
  }
  return out;
}

class Parser {
  constructor(tokens) { this.tk = tokens; this.i = 0; }
  peek(k = 0) { return this.tk[this.i + k]; }
  done() { const t = this.peek(); return !t || (t.t === 'op' && t.v === '|'); }
  next() {
    const t = this.tk[this.i++];
    if (!t) throw new QueryError('the query ends too early');
    return t;
  }
  isWord(w) { const t = this.peek(); return t && t.t === 'id' && t.v.toLowerCase() === w; }
  want(v) {
    const t = this.next();
    if (t.v !== v) throw new QueryError(`expected "${v}", found "${t.v}"`);
  }
  field() {
    const t = this.next();
    if (t.t !== 'id') throw new QueryError(`expected a field name, found "${t.v}"`);
    return t.v;
  }

  // ---- conditions ----
  or() {
    let left = this.and();
    while (this.isWord('or')) { this.i++; const l = left; const r = this.and(); left = (row) => l(row) || r(row); }
    return left;
  }
  and() {
    let left = this.not();
    while (this.isWord('and')) { this.i++; const l = left; const r = this.not(); left = (row) => l(row) && r(row); }
    return left;
  }
  not() {
    if (this.isWord('not')) { this.i++; const e = this.not(); return (row) => !e(row); }
    return this.comparison();
  }
  value() {
    const t = this.next();
    if (t.t === 'str' || t.t === 'num') return () => t.v;
    if (t.t === 'id') {
      const fn = t.v.toLowerCase();
      if ((fn === 'ispresent' || fn === 'isempty') && this.peek()?.v === '(') {
        this.want('(');
        const f = this.field();
        this.want(')');
        return fn === 'ispresent' ? (row) => get(row, f) !== undefined
          : (row) => { const v = get(row, f); return v === undefined || v === null || v === ''; };
      }
      if (this.peek()?.v === '(') throw new QueryError(`function ${t.v}() is not supported here`);
      return (row) => get(row, t.v);
    }
    throw new QueryError(`unexpected "${t.v}" in a condition`);
  }
  comparison() {
    if (this.peek()?.v === '(') {
      this.i++;
      const e = this.or();
      this.want(')');
      return e;
    }
    const left = this.value();
    const t = this.peek();
    if (!t || t.v === '|' || t.v === ')' || this.isWord('and') || this.isWord('or')) {
      return (row) => Boolean(left(row));
    }
    let negate = false;
    if (this.isWord('not')) { this.i++; negate = true; }
    const op = this.next();
    const word = op.t === 'id' ? op.v.toLowerCase() : op.v;
    let test;
    if (word === 'like' || word === '=~') {
      const pat = this.next();
      if (pat.t === 're') test = (row) => { const v = left(row); return v !== undefined && pat.v.test(String(v)); };
      else if (pat.t === 'str') test = (row) => { const v = left(row); return v !== undefined && String(v).includes(pat.v); };
      else throw new QueryError(`${op.v} needs a "string" or a /regex/`);
    } else if (word === 'in') {
      this.want('[');
      const list = [];
      while (this.peek()?.v !== ']') {
        const v = this.next();
        if (v.t !== 'str' && v.t !== 'num') throw new QueryError('in [...] holds strings and numbers only');
        list.push(v.v);
        if (this.peek()?.v === ',') this.i++;
      }
      this.want(']');
      test = (row) => list.some((x) => equal(left(row), x));
    } else if (['=', '!=', '<', '<=', '>', '>='].includes(word) && !negate) {
      const right = this.value();
      test = (row) => compare(word, left(row), right(row));
    } else {
      throw new QueryError(`unknown operator "${op.v}"`);
    }
    return negate ? (row) => !test(row) : test;
  }

  // ---- stats ----
  aggregate() {
    const name = this.next();
    if (name.t !== 'id' || this.peek()?.v !== '(') throw new QueryError(`expected a stats function, found "${name.v}"`);
    const fn = name.v.toLowerCase();
    if (!AGGREGATES[fn]) throw new QueryError(`stats function ${name.v}() is not supported`);
    this.want('(');
    let field = '*';
    if (this.peek()?.v === '*') { this.i++; } else field = this.field();
    let arg;
    if (fn === 'pct') {
      this.want(',');
      const p = this.next();
      if (p.t !== 'num') throw new QueryError('pct(field, percentile) needs a number');
      arg = p.v;
    }
    this.want(')');
    if (field === '*' && fn !== 'count') throw new QueryError(`${fn}(*) is not allowed; name a field`);
    let as = `${fn}(${field}${arg === undefined ? '' : `, ${arg}`})`;
    if (this.isWord('as')) { this.i++; as = this.field(); }
    return { fn, field, arg, as };
  }
}

// ---- values ----

function get(row, name) {
  if (name in row) return row[name];
  let v = row;
  for (const part of name.split('.')) {
    if (v === null || typeof v !== 'object' || !(part in v)) return undefined;
    v = v[part];
  }
  return v;
}

const numeric = (v) => typeof v === 'number' || (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v)));

function equal(a, b) {
  if (a === undefined || b === undefined) return false;
  if (numeric(a) && numeric(b)) return Number(a) === Number(b);
  return String(a) === String(b);
}

function compare(op, a, b) {
  if (a === undefined || a === null || b === undefined || b === null) return false;
  if (op === '=') return equal(a, b);
  if (op === '!=') return !equal(a, b);
  const [x, y] = numeric(a) && numeric(b) ? [Number(a), Number(b)] : [String(a), String(b)];
  return op === '<' ? x < y : op === '<=' ? x <= y : op === '>' ? x > y : x >= y;
}

function byTime(rows) { return [...rows].sort((a, b) => timeOf(a) - timeOf(b)); }
function timeOf(row) { const t = row['@timestamp']; return typeof t === 'number' ? t : Date.parse(t); }

const present = (rows, f) => rows.map((r) => get(r, f)).filter((v) => v !== undefined && v !== null);
const nums = (rows, f) => present(rows, f).filter(numeric).map(Number);

const AGGREGATES = {
  count: (rows, f) => (f === '*' ? rows.length : present(rows, f).length),
  count_distinct: (rows, f) => new Set(present(rows, f).map(String)).size,
  sum: (rows, f) => nums(rows, f).reduce((a, b) => a + b, 0),
  avg: (rows, f) => { const n = nums(rows, f); return n.length ? n.reduce((a, b) => a + b, 0) / n.length : null; },
  min: (rows, f) => { const n = nums(rows, f); return n.length ? Math.min(...n) : null; },
  max: (rows, f) => { const n = nums(rows, f); return n.length ? Math.max(...n) : null; },
  pct: (rows, f, p) => {
    const n = nums(rows, f).sort((a, b) => a - b);
    if (!n.length) return null;
    return n[Math.min(n.length - 1, Math.max(0, Math.ceil((p / 100) * n.length) - 1))];
  },
  earliest: (rows, f) => { const r = byTime(rows).find((x) => get(x, f) !== undefined); return r ? get(r, f) : null; },
  latest: (rows, f) => { const r = byTime(rows).reverse().find((x) => get(x, f) !== undefined); return r ? get(r, f) : null; },
};

// ---- commands ----

function commandFields(p, state) {
  const cols = [];
  do {
    if (p.peek()?.v === ',') p.i++;
    const f = p.field();
    let as = f;
    if (p.isWord('as')) { p.i++; as = p.field(); }
    cols.push(as);
    if (as !== f) state.rows = state.rows.map((r) => ({ ...r, [as]: get(r, f) }));
  } while (p.peek()?.v === ',');
  state.columns = cols;
}

function commandStats(p, state) {
  const aggs = [p.aggregate()];
  while (p.peek()?.v === ',') { p.i++; aggs.push(p.aggregate()); }
  const by = [];
  if (p.isWord('by')) {
    p.i++;
    by.push(p.field());
    while (p.peek()?.v === ',') { p.i++; by.push(p.field()); }
  }
  const groups = new Map();
  for (const row of state.rows) {
    const key = JSON.stringify(by.map((f) => get(row, f) ?? null));
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(row);
  }
  if (!by.length && !groups.size) groups.set('[]', []);
  state.rows = [...groups.entries()].map(([key, rows]) => {
    const out = {};
    JSON.parse(key).forEach((v, i) => { out[by[i]] = v; });
    for (const a of aggs) out[a.as] = AGGREGATES[a.fn](rows, a.field, a.arg);
    return out;
  });
  state.columns = [...by, ...aggs.map((a) => a.as)];
}

function commandSort(p, state) {
  const keys = [];
  do {
    if (p.peek()?.v === ',') p.i++;
    const f = p.field();
    let dir = -1;
    if (p.isWord('asc')) { p.i++; dir = 1; } else if (p.isWord('desc')) { p.i++; }
    keys.push([f, dir]);
  } while (p.peek()?.v === ',');
  const cmp = (a, b) => {
    for (const [f, dir] of keys) {
      const x = f === '@timestamp' ? timeOf(a) : get(a, f);
      const y = f === '@timestamp' ? timeOf(b) : get(b, f);
      if (x === y) continue;
      if (x === undefined || x === null) return 1;
      if (y === undefined || y === null) return -1;
      const c = numeric(x) && numeric(y) ? Number(x) - Number(y) : String(x) < String(y) ? -1 : 1;
      if (c !== 0) return c * dir;
    }
    return 0;
  };
  state.rows = [...state.rows].sort(cmp); // stable: ties keep their order
  state.sorted = keys;
}

const COMMANDS = {
  fields: commandFields,
  display: commandFields,
  filter: (p, state) => { const cond = p.or(); state.rows = state.rows.filter((r) => cond(r)); },
  stats: commandStats,
  sort: commandSort,
  limit: (p, state) => {
    const n = p.next();
    if (n.t !== 'num' || n.v < 1) throw new QueryError('limit needs a positive number');
    state.rows = state.rows.slice(0, n.v);
  },
};

// A log line as a row: its JSON members plus @timestamp and @message.
export function rowsFromLines(lines) {
  return lines.filter((l) => l.trim()).map((line) => {
    const o = JSON.parse(line);
    const ts = o.timestamp ?? o._aws?.Timestamp;
    return { ...o, '@timestamp': typeof ts === 'number' ? ts : Date.parse(ts), '@message': line };
  });
}

// Runs `query` over rows (see rowsFromLines). Returns { columns, rows } where each row holds only
// the shown columns (all fields when no fields/display/stats command chose them).
// Throws QueryError for anything outside the supported subset.
export function runQuery(query, rows) {
  const tokens = tokenize(query);
  if (!tokens.length) throw new QueryError('the query is empty');
  const p = new Parser(tokens);
  const state = { rows, columns: null };
  while (p.i < tokens.length) {
    const cmd = p.next();
    const name = cmd.t === 'id' ? cmd.v.toLowerCase() : cmd.v;
    if (!COMMANDS[name]) throw new QueryError(`command "${cmd.v}" is not supported (supported: ${Object.keys(COMMANDS).join(', ')})`);
    COMMANDS[name](p, state);
    if (!p.done()) throw new QueryError(`unexpected "${p.peek().v}" after the ${name} command`);
    if (p.peek()?.v === '|') p.i++;
  }
  const columns = state.columns || [...new Set(state.rows.flatMap((r) => Object.keys(r)))];
  return { columns, rows: state.rows.map((r) => Object.fromEntries(columns.map((c) => [c, get(r, c) ?? null]))) };
}
