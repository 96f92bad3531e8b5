// marshal_node.mjs - Node-compatible semantics: the representative item marshalled by moonbase
// (bench_marshal --emit) and unmarshalled by @aws-sdk/util-dynamodb gives the same data as the
// Lua source item, and the SDK's own marshall() of that data unmarshalls back equal.
// Usage: node tests/integration/marshal_node.mjs path/to/bench_marshal
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import assert from "node:assert/strict";
import { marshall, unmarshall } from "@aws-sdk/util-dynamodb";

const bench = process.argv[2];
const dir = mkdtempSync(join(tmpdir(), "mb-marshal-"));
try {
  execFileSync(bench, ["--emit-only", dir], { stdio: ["ignore", "ignore", "inherit"], timeout: 120000 });
  const ours = JSON.parse(readFileSync(join(dir, "item.json"), "utf8"));
  const expected = {
    PK: "TENANT#acme-corp", SK: "ITEM#01JDQ8Z6V3K4N5P6Q7R8S9T0UV",
    id: "01JDQ8Z6V3K4N5P6Q7R8S9T0UV", title: "Quarterly report draft",
    description: "Lorem ipsum dolor sit amet, consectetur. ".repeat(5),
    status: "doing", version: 7, createdAt: "2026-11-25T10:00:00Z",
    updatedAt: "2026-11-25T12:34:56Z", owner: "c0ffee00-1234-4abc-8def-0123456789ab",
    priority: 3, score: 87.5, archived: false, deletedAt: null,
    tags: ["work", "q4", "draft"], counts: { views: 120, edits: 14, comments: 3 },
    meta: { source: "web", client: { name: "spa", version: "1.4.2" }, flags: [true, false] },
    history: [
      { at: "2026-11-25T10:00:00Z", by: "u1", action: "create" },
      { at: "2026-11-25T12:34:56Z", by: "u2", action: "update" },
    ],
    ratio: 0.125, size: 1048576,
  };
  assert.deepEqual(unmarshall(ours), expected);
  // Same AttributeValue shapes as the SDK produces (key order aside).
  assert.deepEqual(ours, marshall(expected));
  console.log("ok: moonbase marshalling matches @aws-sdk/util-dynamodb");
} finally {
  rmSync(dir, { recursive: true, force: true });
}
