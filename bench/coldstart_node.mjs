// bench/coldstart_node.mjs - the Node.js way to answer the hello event, as a classic Lambda
// handler would: load the usual libraries (a JSON logger, the AWS SDK marshaller, JWT verifier),
// parse the event, answer. Used by bench/run-coldstart for the cold-start comparison.
import { readFileSync } from 'node:fs';
import { marshall } from '@aws-sdk/util-dynamodb';
import { CognitoJwtVerifier } from 'aws-jwt-verify';

const event = JSON.parse(readFileSync(process.argv[2], 'utf8'));
void marshall;
void CognitoJwtVerifier;
const name = (event.queryStringParameters && event.queryStringParameters.name) || 'world';
const body = { message: `Hello, ${name}!`, timestamp: new Date().toISOString() };
console.error(JSON.stringify({ level: 'INFO', message: 'GET /hello 200', requestId: 'bench' }));
console.log(JSON.stringify({ statusCode: 200, headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body), isBase64Encoded: false }));
