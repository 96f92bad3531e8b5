#!/usr/bin/env node
// sam/config-json.mjs OUTPUTS.json - print the SPA's /config.json (contracts: apiUrl,
// cognitoEndpoint, region, userPoolId, clientId, environment) built from a stack's outputs, as
// printed by `aws cloudformation describe-stacks --stack-name S --query 'Stacks[0].Outputs'`.
// The deploy workflows upload the result to the frontend bucket as /config.json.
// Exits 1 with a message naming the missing or malformed output; never prints a partial file.
import { readFileSync, realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

export function configFromOutputs(outputs) {
  if (!Array.isArray(outputs)) {
    throw new Error('expected the JSON array of stack outputs ([{"OutputKey": ..., "OutputValue": ...}])');
  }
  const out = new Map();
  for (const o of outputs) {
    if (o && typeof o.OutputKey === 'string' && typeof o.OutputValue === 'string') {
      out.set(o.OutputKey, o.OutputValue);
    }
  }
  const need = (key, pattern) => {
    const v = out.get(key);
    if (v === undefined || v === '') throw new Error(`stack output ${key} is missing`);
    if (!pattern.test(v)) throw new Error(`stack output ${key} has an unexpected value: ${v}`);
    return v;
  };
  const region = need('Region', /^[a-z]{2}(-[a-z]+)+-\d$/);
  return {
    apiUrl: need('ApiUrl', /^https:\/\/[A-Za-z0-9.-]+(\/[^\s]*)?$/).replace(/\/+$/, ''),
    cognitoEndpoint: `https://cognito-idp.${region}.amazonaws.com/`,
    region,
    userPoolId: need('UserPoolId', /^[a-z]{2}(-[a-z]+)+-\d_[A-Za-z0-9]+$/),
    clientId: need('UserPoolClientId', /^[A-Za-z0-9]+$/),
    environment: need('Environment', /^(dev|staging|prod)$/),
  };
}

function main(argv) {
  if (argv.length !== 1) {
    console.error('usage: config-json.mjs OUTPUTS.json   (- reads stdin)');
    return 2;
  }
  try {
    const text = readFileSync(argv[0] === '-' ? 0 : argv[0], 'utf8');
    process.stdout.write(JSON.stringify(configFromOutputs(JSON.parse(text)), null, 2) + '\n');
    return 0;
  } catch (e) {
    console.error(`config-json: ${e.message}`);
    return 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  process.exitCode = main(process.argv.slice(2));
}
