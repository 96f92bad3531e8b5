// harness.mjs - what every tests/integration/*.test.mjs script shares: test(name, fn) runs one
// case and prints "ok   name (N ms)" or "FAIL name: stack" (a failed case does not stop the
// script), countFailure() counts a failure found outside a case (set-up, a worker's exit status,
// a sanitizer report), failures is the count so far (a live binding), sleep(ms).
// Each script ends with process.exit(failures ? 1 : 0) so that ctest sees the result.
export let failures = 0;

export function countFailure() {
  failures++;
}

export async function test(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    failures++;
    console.log(`FAIL ${name}: ${e.stack || e}`);
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
