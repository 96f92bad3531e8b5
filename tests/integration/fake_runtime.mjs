#!/usr/bin/env node
// tests/integration/fake_runtime.mjs - a deliberately misbehaving Lambda runtime, used only to
// drive the devserver's Runtime API emulator down paths the real bootstrap never takes (a 7 MB
// response, a non-JSON response, an unknown request id). The event's path (REST `path`, HTTP API
// `rawPath`) picks the behaviour.
const api = `http://${process.env.AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime`;

async function post(path, body) {
  const r = await fetch(`${api}${path}`, { method: 'POST', body });
  await r.text();
  return r.status;
}

for (;;) {
  const next = await fetch(`${api}/invocation/next`);
  const id = next.headers.get('lambda-runtime-aws-request-id');
  const ev = await next.json();
  const h = (n) => next.headers.get(n);
  const info = {
    requestId: id, deadlineMs: Number(h('lambda-runtime-deadline-ms')), now: Date.now(),
    traceId: h('lambda-runtime-trace-id'), arn: h('lambda-runtime-invoked-function-arn'),
    env: { dev: process.env.MOONBASE_DEV, handlers: process.env.HANDLERS_DIR },
    event: ev,
  };
  const reply = (extra) => post(`/invocation/${id}/response`, JSON.stringify({
    statusCode: 200, headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ...info, ...extra }) }));
  const where = ev.rawPath ?? ev.path;
  if (where === '/big') {
    const status = await post(`/invocation/${id}/response`, JSON.stringify({ statusCode: 200,
      body: 'x'.repeat(7 * 1024 * 1024) }));
    if (status !== 413) console.error(`fake_runtime: 7 MB response got ${status}, expected 413`);
  } else if (where === '/nonjson') {
    await post(`/invocation/${id}/response`, 'this is not json');
  } else if (where === '/error') {
    await post(`/invocation/${id}/error`, JSON.stringify({ errorMessage: 'boom', errorType: 'Test' }));
  } else if (where === '/wrong-id') {
    const wrong = await post('/invocation/not-the-id/response', '{}');
    await reply({ wrongIdStatus: wrong });
  } else {
    await reply({});
  }
}
