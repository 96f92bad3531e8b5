// marshal_node.mjs - the Node.js peer of bench_marshal: @aws-sdk/util-dynamodb marshall() and
// unmarshall() on the same representative item (read from DIR/item.json, which bench_marshal
// wrote). Usage: node bench/marshal_node.mjs DIR
// Prints marshal_us=, unmarshal_us=, roundtrip_us= (marshall + unmarshall on JS objects, the
// library's own work) and roundtrip_json_us= (plus JSON.stringify/parse, which the SDK's wire
// path adds and which the C figures include). Microseconds per item, fastest of 12 blocks.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { marshall, unmarshall } from "@aws-sdk/util-dynamodb";

const dir = process.argv[2];
if (!dir) {
  console.error("usage: node bench/marshal_node.mjs DIR");
  process.exit(2);
}
const av = JSON.parse(readFileSync(join(dir, "item.json"), "utf8"));
const item = unmarshall(av);
const BLOCKS = 12;
const ITERS = 20000;

function time(fn) {
  for (let i = 0; i < 3 * ITERS; i++) fn(); // JIT warm-up: optimized code before the first block
  let best = Infinity;
  for (let b = 0; b < BLOCKS; b++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < ITERS; i++) fn();
    const us = Number(process.hrtime.bigint() - t0) / 1000 / ITERS;
    best = Math.min(best, us);
  }
  return best;
}

// The sink keeps results alive at the cost of a compare: an Object.keys() per call (as before)
// added 0.4-1 us of work that is not marshalling to every Node figure.
let sink = 0;
const m = time(() => { sink ^= marshall(item) === null ? 1 : 0; });
const u = time(() => { sink ^= unmarshall(av) === null ? 1 : 0; });
const rt = time(() => { sink ^= unmarshall(marshall(item)) === null ? 1 : 0; });
const rtj = time(() => {
  sink ^= JSON.parse(JSON.stringify(marshall(item))) === null ? 1 : 0;
  sink ^= unmarshall(JSON.parse(JSON.stringify(av))) === null ? 1 : 0;
});
console.log(`marshal_us=${m.toFixed(3)}`);
console.log(`unmarshal_us=${u.toFixed(3)}`);
console.log(`roundtrip_us=${rt.toFixed(3)}`);
console.log(`roundtrip_json_us=${rtj.toFixed(3)}`);
if (sink === 42) console.log("");
