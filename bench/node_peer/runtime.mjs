// bench/node_peer/runtime.mjs - a Lambda Runtime API loop for app.mjs (run by ./bootstrap, which
// says why not the official aws-lambda-ric): GET .../invocation/next, run the handler, POST its
// result to .../response (or a Runtime API error to .../error), over one keep-alive connection,
// as the RIC does. Reads AWS_LAMBDA_RUNTIME_API like any Lambda runtime.
import http from 'node:http';
import { handler } from './app.mjs';

const [host, port] = process.env.AWS_LAMBDA_RUNTIME_API.split(':');
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const base = '/2018-06-01/runtime/invocation';

function call(method, path, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port, method, path, agent, headers: body === undefined ? {} : { 'content-type': 'application/json' } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

for (;;) {
  const next = await call('GET', `${base}/next`);
  const id = next.headers['lambda-runtime-aws-request-id'];
  if (next.headers['lambda-runtime-trace-id']) process.env._X_AMZN_TRACE_ID = next.headers['lambda-runtime-trace-id'];
  const context = {
    awsRequestId: id,
    getRemainingTimeInMillis: () => Number(next.headers['lambda-runtime-deadline-ms']) - Date.now(),
  };
  try {
    const res = await handler(JSON.parse(next.body), context);
    await call('POST', `${base}/${id}/response`, JSON.stringify(res));
  } catch (e) {
    await call('POST', `${base}/${id}/error`, JSON.stringify({ errorType: e.name, errorMessage: e.message }));
  }
}
