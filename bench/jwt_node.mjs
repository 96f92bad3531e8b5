// jwt_node.mjs - the Node.js peer: aws-jwt-verify's CognitoJwtVerifier on a token signed by the
// same key bench_jwt uses, JWKS cached up front (cacheJwks: no network), so the figure is pure
// verification cost per token. Usage: node bench/jwt_node.mjs DIR   (DIR from bench_jwt --emit)
// Prints aws_jwt_verify_sync_us= and aws_jwt_verify_async_us= (microseconds per token).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CognitoJwtVerifier } from "aws-jwt-verify";

const dir = process.argv[2];
if (!dir) {
  console.error("usage: node bench/jwt_node.mjs DIR");
  process.exit(2);
}
const env = Object.fromEntries(
  readFileSync(join(dir, "env"), "utf8").trim().split("\n").map((l) => l.split("=")),
);
const jwks = JSON.parse(readFileSync(join(dir, "jwks.json"), "utf8"));
const token = readFileSync(join(dir, "token.txt"), "utf8").trim();

const verifier = CognitoJwtVerifier.create({
  userPoolId: env.USER_POOL_ID,
  tokenUse: "id",
  clientId: env.CLIENT_ID,
});
verifier.cacheJwks(jwks);

const payload = verifier.verifySync(token); // throws if the peer would reject the token
if (payload.iss !== env.ISSUER) {
  throw new Error(`unexpected iss ${payload.iss}`);
}

// Same policy as bench_jwt: interleaved blocks, fastest block wins (load only adds time).
const BLOCKS = 12;
const ITERS = 2000;
let syncUs = Infinity;
let asyncUs = Infinity;
for (let i = 0; i < 2000; i++) verifier.verifySync(token); // JIT warm-up
for (let b = 0; b < BLOCKS; b++) {
  let t0 = process.hrtime.bigint();
  for (let i = 0; i < ITERS; i++) verifier.verifySync(token);
  syncUs = Math.min(syncUs, Number(process.hrtime.bigint() - t0) / 1000 / ITERS);
  t0 = process.hrtime.bigint();
  for (let i = 0; i < ITERS; i++) await verifier.verify(token);
  asyncUs = Math.min(asyncUs, Number(process.hrtime.bigint() - t0) / 1000 / ITERS);
}
console.log(`aws_jwt_verify_sync_us=${syncUs.toFixed(3)}`);
console.log(`aws_jwt_verify_async_us=${asyncUs.toFixed(3)}`);
