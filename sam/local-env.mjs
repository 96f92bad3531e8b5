#!/usr/bin/env node
// sam/local-env.mjs - write sam/env.json for `sam local invoke` / `sam local start-api` from the
// running local stack (scripts/up or scripts/stack start), so the function in SAM's Docker
// container talks to the same cognito-local and dynalite as the devserver:
//   COGNITO_ISSUER     exactly the stack's issuer (http://localhost:9229/<pool>): the `iss` of
//                      the tokens cognito-local hands out, which the bootstrap checks
//   COGNITO_JWKS_URL   the same keys under the name the container reaches the host by
//                      (host.docker.internal; --docker-host to change it)
//   DYNAMODB_ENDPOINT  dynalite under that name too
//   TABLE_NAME, USER_POOL_ID, CLIENT_ID, CURSOR_SECRET, CORS_ALLOWED_ORIGINS from the stack
// Credentials: dynalite accepts any; SAM passes the host's AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY
// (export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local when you have none).
// Usage: node sam/local-env.mjs [--state DIR (.local or $MB_STATE_DIR)] [--docker-host NAME]
//        [--out FILE (sam/env.json; - for stdout)]
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

// The variables of the template's MoonbaseFunction that the local stack decides.
export function envJson(stackEnv, { dockerHost = 'host.docker.internal' } = {}) {
  const need = ['TABLE_NAME', 'USER_POOL_ID', 'CLIENT_ID', 'COGNITO_ISSUER', 'DYNAMODB_ENDPOINT'];
  for (const k of need) if (!stackEnv[k]) throw new Error(`the local stack's environment has no ${k} (run scripts/up first)`);
  const viaDocker = (url) => {
    const u = new URL(url);
    if (['localhost', '127.0.0.1', '[::1]'].includes(u.hostname)) u.hostname = dockerHost;
    return u.toString().replace(/\/$/, '');
  };
  const issuer = stackEnv.COGNITO_ISSUER.replace(/\/$/, '');
  return {
    MoonbaseFunction: {
      TABLE_NAME: stackEnv.TABLE_NAME,
      USER_POOL_ID: stackEnv.USER_POOL_ID,
      CLIENT_ID: stackEnv.CLIENT_ID,
      COGNITO_ISSUER: issuer,
      COGNITO_JWKS_URL: `${viaDocker(issuer)}/.well-known/jwks.json`,
      DYNAMODB_ENDPOINT: viaDocker(stackEnv.DYNAMODB_ENDPOINT),
      ENVIRONMENT: 'local',
      LOG_LEVEL: 'debug',
      CORS_ALLOWED_ORIGINS: stackEnv.CORS_ALLOWED_ORIGINS || 'http://localhost:3000',
      METRICS_NAMESPACE: 'ServerlessApp',
      ...(stackEnv.CURSOR_SECRET ? { CURSOR_SECRET: stackEnv.CURSOR_SECRET } : {}),
    },
  };
}

// KEY=VALUE lines (the seed's stack.env).
export function parseEnvFile(text) {
  const out = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) out[m[1]] = m[2];
  }
  return out;
}

function main(argv) {
  const opt = { state: process.env.MB_STATE_DIR || path.join(here, '..', '.local'),
    dockerHost: 'host.docker.internal', out: path.join(here, 'env.json') };
  for (let i = 0; i < argv.length; i += 2) {
    const [k, v] = [argv[i], argv[i + 1]];
    if (k === '--state' && v) opt.state = v;
    else if (k === '--docker-host' && v) opt.dockerHost = v;
    else if (k === '--out' && v) opt.out = v;
    else {
      console.error('usage: node sam/local-env.mjs [--state DIR] [--docker-host NAME] [--out FILE|-]');
      process.exit(2);
    }
  }
  const file = path.join(opt.state, 'stack.env');
  if (!fs.existsSync(file)) {
    console.error(`local-env: ${file} not found: start the local stack first (scripts/up)`);
    process.exit(1);
  }
  const text = JSON.stringify(envJson(parseEnvFile(fs.readFileSync(file, 'utf8')), opt), null, 2) + '\n';
  if (opt.out === '-') process.stdout.write(text);
  else {
    fs.writeFileSync(opt.out, text);
    console.log(`local-env: wrote ${opt.out} (sam local invoke --env-vars ${path.relative(process.cwd(), opt.out)})`);
  }
}

if (process.argv[1] && fs.realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2));
}
