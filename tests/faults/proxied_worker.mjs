#!/usr/bin/env node
// tests/faults/proxied_worker.mjs - a devserver worker with a fault proxy between the bootstrap
// and the devserver's Runtime API emulator (issue 17). Given to the devserver as --bootstrap, it
// is the worker process the pool spawned: it starts tests/faults/fault_proxy.mjs on a spare port
// in front of the emulator the pool named in AWS_LAMBDA_RUNTIME_API, runs the real bootstrap
// ($MB_FAULT_BOOTSTRAP) with AWS_LAMBDA_RUNTIME_API pointing at the proxy, and exits with the
// bootstrap's status. The proxy must live in this process: the emulator accepts connections only
// from sockets of the worker process it spawned (core/devserver_guard.c), so a proxy in another
// process would be refused, as any other local process is.
// Control: it registers at $MB_FAULT_CONTROL (POST /register {pid, control}) and serves
// POST /plan, /always (JSON fault lists, as fault_proxy's plan()/always()) and GET /stats on its
// own control port; when the bootstrap exits it POSTs /exit {pid, code, signal} there first.
import { spawn } from 'node:child_process';
import http from 'node:http';
import { startFaultProxy } from './fault_proxy.mjs';

const control = process.env.MB_FAULT_CONTROL;
const post = (path, body) => new Promise((resolve) => {
  const req = http.request(`${control}${path}`, { method: 'POST', agent: false,
    headers: { 'content-type': 'application/json', connection: 'close' } }, (res) => {
    res.resume();
    res.on('end', resolve);
  });
  req.on('error', resolve); // the test may be gone already
  req.end(JSON.stringify(body));
});

const proxy = await startFaultProxy({ target: `http://${process.env.AWS_LAMBDA_RUNTIME_API}` });
const ctl = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = chunks.length ? JSON.parse(Buffer.concat(chunks)) : null;
    if (req.url === '/plan') proxy.plan(...body);
    else if (req.url === '/always') proxy.always(body);
    res.writeHead(200, { 'content-type': 'application/json', connection: 'close' });
    res.end(JSON.stringify(proxy.stats));
  });
});
await new Promise((r) => ctl.listen(0, '127.0.0.1', r));
await post('/register', { pid: process.pid, control: `http://127.0.0.1:${ctl.address().port}` });

const child = spawn(process.env.MB_FAULT_BOOTSTRAP, [], {
  env: { ...process.env, AWS_LAMBDA_RUNTIME_API: `127.0.0.1:${proxy.port}` },
  stdio: ['ignore', 'inherit', 'inherit'],
});
// The pool stops a worker with SIGTERM (shutdown) or SIGKILL (deadline passed); a SIGKILL of this
// process closes the proxy, and the bootstrap then finds its Runtime API gone and exits by itself.
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => child.kill(sig));
child.on('exit', async (code, signal) => {
  await post('/exit', { pid: process.pid, code, signal });
  ctl.close();
  await proxy.close();
  process.exit(code ?? 128);
});
