// bench/node_peer/invoke.mjs - the Node.js peer of `bootstrap invoke --event FILE` for the cold
// start benchmark (bench/run-coldstart): one process loads app.mjs (its whole init), answers one
// API Gateway event from FILE and prints the proxy response on stdout; logs and EMF go to stderr,
// as with `bootstrap invoke` (aws-embedded-metrics' Lambda sink writes with console.log).
import { readFileSync } from 'node:fs';

console.log = console.error;
const { handler } = await import('./app.mjs');

const event = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const res = await handler(event, { awsRequestId: 'cold-start-bench' });
process.stdout.write(JSON.stringify(res) + '\n');
