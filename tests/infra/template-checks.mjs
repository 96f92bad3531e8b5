// tests/infra/template-checks.mjs - structural rules for sam/template.yaml that must hold whatever
// else changes: the fixed contracts (Cognito policy, table keys, env vars, EMF names) and the
// least-privilege IAM rules. checkTemplate() returns a list of problems (empty = good), so the test
// can also prove each rule fires on a deliberately broken copy. Runs without cfn-lint or AWS.

export const ALLOWED_DDB_ACTIONS = [
  'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem',
  'dynamodb:Query', 'dynamodb:BatchGetItem', 'dynamodb:BatchWriteItem',
];
// Services without resource-level permissions: the only actions allowed on Resource "*".
const STAR_RESOURCE_ACTIONS = ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'];
export const REQUIRED_ENV = ['TABLE_NAME', 'USER_POOL_ID', 'CLIENT_ID', 'ENVIRONMENT', 'LOG_LEVEL',
  'CORS_ALLOWED_ORIGINS', 'METRICS_NAMESPACE', 'CURSOR_SECRET'];
export const REQUIRED_OUTPUTS = ['ApiUrl', 'UserPoolId', 'UserPoolClientId', 'TableName',
  'FrontendBucket', 'DistributionDomain', 'Region'];
const PSEUDO = ['AWS::AccountId', 'AWS::NotificationARNs', 'AWS::NoValue', 'AWS::Partition',
  'AWS::Region', 'AWS::StackId', 'AWS::StackName', 'AWS::URLSuffix'];

const asList = (v) => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
const sortedSame = (a, b) => same([...a].sort(), [...b].sort());
const ofType = (t, type) => Object.entries(t.Resources || {}).filter(([, r]) => r.Type === type);

// Every IAM statement in the template, wherever it sits (roles, policies, SAM Policies).
function statements(t) {
  const out = [];
  const push = (where, doc) => {
    for (const s of asList(doc && doc.Statement)) out.push({ where, s });
  };
  for (const [id, r] of Object.entries(t.Resources || {})) {
    const p = r.Properties || {};
    if (r.Type === 'AWS::IAM::Role') {
      for (const pol of asList(p.Policies)) push(`${id}/${pol.PolicyName}`, pol.PolicyDocument);
    }
    if (r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy') push(id, p.PolicyDocument);
    if (r.Type === 'AWS::Serverless::Function') {
      for (const pol of asList(p.Policies)) if (pol && pol.Statement) push(`${id}/Policies`, pol);
    }
  }
  return out;
}

function checkIam(t, bad) {
  const ddbSeen = new Set();
  for (const { where, s } of statements(t)) {
    if (s.NotAction !== undefined) bad.push(`${where}: NotAction is not allowed`);
    if (s.Effect !== 'Allow') continue;
    const actions = asList(s.Action);
    for (const a of actions) {
      if (typeof a !== 'string') { bad.push(`${where}: non-literal Action ${JSON.stringify(a)}`); continue; }
      if (a.includes('*')) bad.push(`${where}: wildcard action ${a}`);
      if (/^dynamodb:Scan$/i.test(a)) bad.push(`${where}: dynamodb:Scan is not allowed`);
      if (a.startsWith('dynamodb:')) {
        ddbSeen.add(a);
        if (!ALLOWED_DDB_ACTIONS.includes(a)) bad.push(`${where}: DynamoDB action ${a} is not in the allowed list`);
      }
    }
    const resources = asList(s.Resource);
    if (resources.includes('*') && !actions.every((a) => STAR_RESOURCE_ACTIONS.includes(a))) {
      bad.push(`${where}: Resource "*" with ${actions.join(', ')}`);
    }
    if (actions.some((a) => String(a).startsWith('dynamodb:')) &&
        !same(resources, [{ 'Fn::GetAtt': ['Table', 'Arn'] }])) {
      bad.push(`${where}: DynamoDB actions must target exactly the table ARN, got ${JSON.stringify(resources)}`);
    }
    if (actions.some((a) => String(a).startsWith('logs:')) &&
        !same(resources, [{ 'Fn::GetAtt': ['FunctionLogGroup', 'Arn'] }])) {
      bad.push(`${where}: logs actions must target only the function's log group`);
    }
  }
  if (!sortedSame([...ddbSeen], ALLOWED_DDB_ACTIONS)) {
    bad.push(`DynamoDB actions granted are ${JSON.stringify([...ddbSeen].sort())}, expected exactly ${JSON.stringify([...ALLOWED_DDB_ACTIONS].sort())}`);
  }
  for (const [id, r] of ofType(t, 'AWS::IAM::Role')) {
    if (r.Properties.ManagedPolicyArns) bad.push(`${id}: managed policies are not allowed (least privilege)`);
  }
}

function checkFunction(t, bad, makefile) {
  const fns = ofType(t, 'AWS::Serverless::Function');
  if (fns.length !== 1) { bad.push(`expected exactly one AWS::Serverless::Function, found ${fns.length}`); return; }
  const [id, fn] = fns[0];
  const p = fn.Properties || {};
  if (p.Runtime !== 'provided.al2023') bad.push(`${id}: Runtime must be provided.al2023, got ${p.Runtime}`);
  if (!same(p.Architectures, ['x86_64'])) bad.push(`${id}: Architectures must be [x86_64]`);
  if (p.Handler !== 'bootstrap') bad.push(`${id}: Handler must be bootstrap`);
  if (p.Tracing !== 'Active') bad.push(`${id}: Tracing must be Active`);
  if (!fn.Metadata || fn.Metadata.BuildMethod !== 'makefile') bad.push(`${id}: Metadata.BuildMethod must be makefile`);
  if (p.CodeUri !== '.') bad.push(`${id}: CodeUri must be . (sam/, where the Makefile is)`);
  if (makefile !== undefined && !new RegExp(`^build-${id}:`, 'm').test(makefile)) {
    bad.push(`sam/Makefile has no build-${id} target`);
  }
  if (p.Policies !== undefined) bad.push(`${id}: use the hand-written Role, not SAM Policies (they add managed policies)`);
  if (!same(p.Role, { 'Fn::GetAtt': ['FunctionRole', 'Arn'] })) bad.push(`${id}: Role must be FunctionRole`);
  const env = (p.Environment && p.Environment.Variables) || {};
  for (const k of REQUIRED_ENV) if (!(k in env)) bad.push(`${id}: environment variable ${k} missing`);
  if (env.LD_LIBRARY_PATH !== '/var/task/lib') bad.push(`${id}: LD_LIBRARY_PATH must be /var/task/lib`);
  if (!same(env.TABLE_NAME, { Ref: 'Table' })) bad.push(`${id}: TABLE_NAME must be the table`);
  if (!same(env.USER_POOL_ID, { Ref: 'UserPool' })) bad.push(`${id}: USER_POOL_ID must be the user pool`);
  if (!same(env.CLIENT_ID, { Ref: 'UserPoolClient' })) bad.push(`${id}: CLIENT_ID must be the app client`);
  if (!same(env.ENVIRONMENT, { Ref: 'Environment' })) bad.push(`${id}: ENVIRONMENT must be the Environment parameter`);
  const lg = t.Resources.FunctionLogGroup;
  if (!lg || !same(lg.Properties.RetentionInDays, { Ref: 'LogRetentionDays' })) {
    bad.push('FunctionLogGroup must exist with RetentionInDays = LogRetentionDays');
  }
}

function checkCognito(t, bad) {
  const pools = ofType(t, 'AWS::Cognito::UserPool');
  if (pools.length !== 1) { bad.push(`expected one user pool, found ${pools.length}`); return; }
  const p = pools[0][1].Properties;
  if (!same(p.UsernameAttributes, ['email'])) bad.push('UserPool: UsernameAttributes must be [email]');
  if (!same(p.AutoVerifiedAttributes, ['email'])) bad.push('UserPool: AutoVerifiedAttributes must be [email]');
  const pw = (p.Policies && p.Policies.PasswordPolicy) || {};
  const want = { MinimumLength: 10, RequireUppercase: true, RequireLowercase: true, RequireNumbers: true, RequireSymbols: false };
  for (const [k, v] of Object.entries(want)) {
    if (pw[k] !== v) bad.push(`UserPool: PasswordPolicy.${k} must be ${v}, got ${pw[k]}`);
  }
  const tenant = asList(p.Schema).find((a) => a.Name === 'tenant_id');
  if (!tenant || tenant.AttributeDataType !== 'String' || tenant.Mutable !== false) {
    bad.push('UserPool: custom attribute tenant_id must be a String with Mutable false');
  }
  const clients = ofType(t, 'AWS::Cognito::UserPoolClient');
  if (clients.length !== 1) { bad.push(`expected one app client, found ${clients.length}`); return; }
  const c = clients[0][1].Properties;
  if (c.GenerateSecret !== false) bad.push('UserPoolClient: GenerateSecret must be false');
  if (!sortedSame(asList(c.ExplicitAuthFlows), ['ALLOW_USER_PASSWORD_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH', 'ALLOW_USER_SRP_AUTH'])) {
    bad.push(`UserPoolClient: ExplicitAuthFlows must be USER_PASSWORD, REFRESH_TOKEN and USER_SRP, got ${JSON.stringify(c.ExplicitAuthFlows)}`);
  }
  const units = c.TokenValidityUnits || {};
  if (c.IdTokenValidity !== 60 || units.IdToken !== 'minutes' || c.AccessTokenValidity !== 60 ||
      units.AccessToken !== 'minutes' || c.RefreshTokenValidity !== 30 || units.RefreshToken !== 'days') {
    bad.push('UserPoolClient: token validity must be id/access 60 minutes, refresh 30 days');
  }
  if (asList(c.WriteAttributes).includes('custom:tenant_id')) {
    bad.push('UserPoolClient: users must not be able to write custom:tenant_id');
  }
}

function checkTable(t, bad) {
  const tables = ofType(t, 'AWS::DynamoDB::Table');
  if (tables.length !== 1) { bad.push(`expected one DynamoDB table, found ${tables.length}`); return; }
  const p = tables[0][1].Properties;
  if (!same(p.KeySchema, [{ AttributeName: 'PK', KeyType: 'HASH' }, { AttributeName: 'SK', KeyType: 'RANGE' }])) {
    bad.push(`Table: KeySchema must be PK (HASH), SK (RANGE), got ${JSON.stringify(p.KeySchema)}`);
  }
  if (!sortedSame(asList(p.AttributeDefinitions).map((a) => `${a.AttributeName}:${a.AttributeType}`), ['PK:S', 'SK:S'])) {
    bad.push('Table: AttributeDefinitions must be PK (S) and SK (S) only');
  }
  if (p.GlobalSecondaryIndexes || p.LocalSecondaryIndexes) bad.push('Table: no secondary indexes (contract)');
  if (p.BillingMode !== 'PAY_PER_REQUEST') bad.push('Table: BillingMode must be PAY_PER_REQUEST');
  if (!p.PointInTimeRecoverySpecification || p.PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled !== true) {
    bad.push('Table: point-in-time recovery must be enabled');
  }
  if (!p.SSESpecification || p.SSESpecification.SSEEnabled !== true) bad.push('Table: SSE must be enabled');
  if (!same(p.DeletionProtectionEnabled, { 'Fn::If': ['IsProd', true, false] })) {
    bad.push('Table: DeletionProtectionEnabled must be on in prod only');
  }
  if (!same((t.Conditions || {}).IsProd, { 'Fn::Equals': [{ Ref: 'Environment' }, 'prod'] })) {
    bad.push('Condition IsProd must be Environment == prod');
  }
}

function checkParameters(t, bad) {
  const P = t.Parameters || {};
  if (!P.Environment || !sortedSame(asList(P.Environment.AllowedValues), ['dev', 'staging', 'prod'])) {
    bad.push('Parameter Environment must allow exactly dev, staging, prod');
  }
  for (const k of ['AllowedOrigins', 'LogRetentionDays', 'AlarmEmail']) if (!P[k]) bad.push(`Parameter ${k} missing`);
  if (P.AlarmEmail && P.AlarmEmail.Default !== '') bad.push('Parameter AlarmEmail must be optional (Default "")');
  if (!P.MetricsNamespace || P.MetricsNamespace.Default !== 'ServerlessApp') {
    bad.push('Parameter MetricsNamespace must default to ServerlessApp');
  }
  const tr = asList(t.Transform);
  if (!tr.includes('AWS::Serverless-2016-10-31')) bad.push('Transform AWS::Serverless-2016-10-31 missing');
}

function checkFrontend(t, bad) {
  const buckets = ofType(t, 'AWS::S3::Bucket');
  for (const [id, b] of buckets) {
    const pab = b.Properties.PublicAccessBlockConfiguration || {};
    for (const k of ['BlockPublicAcls', 'BlockPublicPolicy', 'IgnorePublicAcls', 'RestrictPublicBuckets']) {
      if (pab[k] !== true) bad.push(`${id}: PublicAccessBlockConfiguration.${k} must be true`);
    }
  }
  for (const [id, bp] of ofType(t, 'AWS::S3::BucketPolicy')) {
    for (const s of asList(bp.Properties.PolicyDocument.Statement)) {
      if (s.Effect === 'Allow' && (s.Principal === '*' || (s.Principal && s.Principal.AWS === '*'))) {
        bad.push(`${id}: public Allow statement`);
      }
      if (s.Effect === 'Allow' && !(s.Condition && s.Condition.StringEquals && s.Condition.StringEquals['AWS:SourceArn'])) {
        bad.push(`${id}: Allow without an AWS:SourceArn condition (only this distribution may read)`);
      }
    }
  }
  const dists = ofType(t, 'AWS::CloudFront::Distribution');
  if (dists.length !== 1) { bad.push(`expected one CloudFront distribution, found ${dists.length}`); return; }
  const d = dists[0][1].Properties.DistributionConfig;
  if (d.DefaultRootObject !== 'index.html') bad.push('Distribution: DefaultRootObject must be index.html');
  for (const b of [d.DefaultCacheBehavior, ...asList(d.CacheBehaviors)]) {
    if (!['redirect-to-https', 'https-only'].includes(b.ViewerProtocolPolicy)) {
      bad.push(`Distribution: behavior ${b.PathPattern || 'default'} must redirect to HTTPS`);
    }
    if (!b.ResponseHeadersPolicyId) bad.push(`Distribution: behavior ${b.PathPattern || 'default'} lacks the security headers policy`);
  }
  for (const o of asList(d.Origins)) {
    if (!o.OriginAccessControlId) bad.push(`Distribution: origin ${o.Id} must use origin access control`);
  }
  if (ofType(t, 'AWS::CloudFront::ResponseHeadersPolicy').length !== 1) bad.push('a security headers policy is required');
}

// The dashboard body is a Fn::Sub string: fill the variables with samples and parse the JSON.
export function dashboardJson(t) {
  const dash = ofType(t, 'AWS::CloudWatch::Dashboard')[0];
  if (!dash) throw new Error('no dashboard');
  let body = dash[1].Properties.DashboardBody;
  body = body && body['Fn::Sub'] !== undefined ? body['Fn::Sub'] : body;
  const text = Array.isArray(body) ? body[0] : body;
  if (typeof text !== 'string') throw new Error('DashboardBody must be a Fn::Sub string');
  const filled = text.replace(/\$\{([^}!]+)\}/g, (_, name) => (/Threshold|Ms$/.test(name) ? '1000' : `sample-${name}`));
  return JSON.parse(filled);
}

function checkMonitoring(t, bad) {
  let dash;
  try { dash = dashboardJson(t); } catch (e) { bad.push(`Dashboard: ${e.message}`); }
  if (dash) {
    const text = JSON.stringify(dash);
    for (const m of ['Latency', 'ColdStart', 'Errors4xx', 'Errors5xx']) {
      if (!text.includes(`"${m}"`) && !text.includes(`\\"${m}\\"`)) bad.push(`Dashboard: metric ${m} missing`);
    }
    if (!text.includes('Environment') || !text.includes('Environment,Route')) {
      bad.push('Dashboard: dimensions [Environment] and [Environment, Route] must both be shown');
    }
  }
  const alarms = ofType(t, 'AWS::CloudWatch::Alarm').map(([id, a]) => ({ id, ...a.Properties }));
  const find = (ns, metric) => alarms.find((a) => same(a.Namespace, ns) && a.MetricName === metric);
  const emf = { Ref: 'MetricsNamespace' };
  const want = [[emf, 'Errors5xx'], [emf, 'Latency'], ['AWS/Lambda', 'Errors'], ['AWS/Lambda', 'Throttles']];
  for (const [ns, metric] of want) {
    const a = find(ns, metric);
    if (!a) { bad.push(`alarm on ${JSON.stringify(ns)} ${metric} missing`); continue; }
    if (!same(a.AlarmActions, [{ Ref: 'AlarmTopic' }])) bad.push(`${a.id}: AlarmActions must notify AlarmTopic`);
  }
  const lat = find(emf, 'Latency');
  if (lat && lat.ExtendedStatistic !== 'p99') bad.push(`${lat.id}: must alarm on p99`);
  for (const a of alarms.filter((x) => same(x.Namespace, emf))) {
    if (!same(a.Dimensions, [{ Name: 'Environment', Value: { Ref: 'Environment' } }])) {
      bad.push(`${a.id}: EMF alarms use the [Environment] dimension set`);
    }
  }
  if (ofType(t, 'AWS::SNS::Topic').length !== 1) bad.push('one SNS alarm topic expected');
}

function checkOutputs(t, bad) {
  for (const k of REQUIRED_OUTPUTS) if (!(t.Outputs || {})[k]) bad.push(`Output ${k} missing`);
}

// Every Ref / GetAtt / ${} / Condition names something that exists (what cfn-lint would catch).
function checkReferences(t, bad) {
  const params = new Set(Object.keys(t.Parameters || {}));
  const res = new Set(Object.keys(t.Resources || {}));
  const conds = new Set(Object.keys(t.Conditions || {}));
  const known = (n) => params.has(n) || res.has(n) || PSEUDO.includes(n);
  const walk = (v, path, locals) => {
    if (Array.isArray(v)) { v.forEach((x, i) => walk(x, `${path}[${i}]`, locals)); return; }
    if (!v || typeof v !== 'object') return;
    for (const [k, x] of Object.entries(v)) {
      if (k === 'Ref' && typeof x === 'string' && !known(x)) bad.push(`${path}: Ref to unknown ${x}`);
      if (k === 'Fn::GetAtt' && !res.has(Array.isArray(x) ? x[0] : String(x).split('.')[0])) {
        bad.push(`${path}: GetAtt of unknown resource ${JSON.stringify(x)}`);
      }
      if ((k === 'Condition' && typeof x === 'string') || (k === 'Fn::If' && Array.isArray(x))) {
        const c = k === 'Condition' ? x : x[0];
        if (!conds.has(c)) bad.push(`${path}: unknown condition ${c}`);
      }
      if (k === 'Fn::Sub') {
        const [str, vars] = Array.isArray(x) ? x : [x, {}];
        const more = new Set([...locals, ...Object.keys(vars || {})]);
        for (const m of String(str).matchAll(/\$\{([^}!][^}]*)\}/g)) {
          const name = m[1].split('.')[0];
          if (!known(name) && !more.has(name)) bad.push(`${path}: \${${m[1]}} names nothing`);
        }
        if (vars) walk(vars, `${path}.Fn::Sub`, locals);
        continue;
      }
      walk(x, `${path}.${k}`, locals);
    }
  };
  walk(t.Resources, 'Resources', new Set());
  walk(t.Outputs, 'Outputs', new Set());
}

export function checkTemplate(t, { makefile } = {}) {
  const bad = [];
  if (!t || typeof t !== 'object' || !t.Resources) return ['not a template (no Resources)'];
  checkParameters(t, bad);
  checkIam(t, bad);
  checkFunction(t, bad, makefile);
  checkCognito(t, bad);
  checkTable(t, bad);
  checkFrontend(t, bad);
  checkMonitoring(t, bad);
  checkOutputs(t, bad);
  checkReferences(t, bad);
  return bad;
}
