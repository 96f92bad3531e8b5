// tests/infra/test_sam_template.mjs - sam/template.yaml keeps its contracts (structure, IAM, keys,
// Cognito policy, EMF names, outputs), checked without AWS or cfn-lint; then each rule is shown to
// fire on a deliberately broken copy, so a check that silently stopped working fails here too.
// Also checks samconfig.toml, env.json, the event files and sam/config-json.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadCfn } from './cfn-yaml.mjs';
import { checkTemplate, checkAuthorizer, dashboardJson, ALLOWED_DDB_ACTIONS } from './template-checks.mjs';
import { loadPlatformRoutes, loadRoutes } from './routes-lua.mjs';
import { configFromOutputs } from '../../sam/config-json.mjs';

const root = process.env.MB_SOURCE_DIR || new URL('../..', import.meta.url).pathname;
const sam = join(root, 'sam');
const makefile = readFileSync(join(sam, 'Makefile'), 'utf8');
const fresh = () => loadCfn(join(sam, 'template.yaml'));
// routes.lua and the platform's own routes (core/tenant_api.c): every one is an API method.
const platform = loadPlatformRoutes(root);
const routes = [...loadRoutes(root), ...platform];

test('template satisfies every structural rule (authorizers checked against routes.lua)', () => {
  assert.ok(routes.length >= 5 && routes.some((r) => r.auth) && routes.some((r) => !r.auth));
  assert.deepEqual(checkTemplate(fresh(), { makefile, routes }), []);
});

test('the Cognito authorizer is on exactly the auth = true routes of routes.lua', () => {
  assert.ok(platform.some((r) => r.path === '/tenant/handlers/{name}' && r.method === 'PUT' && r.auth));
  assert.ok(platform.some((r) => r.path === '/t/{name}/{rest+}' && r.method === 'ANY'));
  const t = fresh();
  assert.deepEqual(checkAuthorizer(t, routes), []);
  // A route added to routes.lua without its API method, and one whose auth flag flips.
  const more = [...routes, { method: 'GET', path: '/reports', handler: 'reports', auth: true }];
  assert.ok(checkAuthorizer(t, more).some((p) => /GET \/reports has no Api event/.test(p)));
  const flipped = routes.map((r) => (r.path === '/hello' ? { ...r, auth: true } : r));
  assert.ok(checkAuthorizer(t, flipped).some((p) => /GET \/hello is auth = true/.test(p)));
});

test('dashboard body is valid JSON once substituted and shows both dimension sets', () => {
  const d = dashboardJson(fresh());
  assert.ok(Array.isArray(d.widgets) && d.widgets.length >= 5);
  const text = JSON.stringify(d);
  assert.match(text, /Environment,Route/);
});

// Each entry breaks one thing; checkTemplate must report it (matching the regexp).
const mutations = [
  ['Scan granted', (t) => t.Resources.FunctionRole.Properties.Policies[0].PolicyDocument.Statement[0].Action.push('dynamodb:Scan'), /Scan/],
  ['dynamodb:* granted', (t) => { t.Resources.FunctionRole.Properties.Policies[0].PolicyDocument.Statement[0].Action = 'dynamodb:*'; }, /wildcard action/],
  ['an allowed action dropped', (t) => t.Resources.FunctionRole.Properties.Policies[0].PolicyDocument.Statement[0].Action.pop(), /expected exactly/],
  ['table actions on *', (t) => { t.Resources.FunctionRole.Properties.Policies[0].PolicyDocument.Statement[0].Resource = '*'; }, /Resource "\*"/],
  ['logs on every group', (t) => { t.Resources.FunctionRole.Properties.Policies[1].PolicyDocument.Statement[0].Resource = 'arn:aws:logs:*:*:*'; }, /log group/],
  ['managed policy attached', (t) => { t.Resources.FunctionRole.Properties.ManagedPolicyArns = ['arn:aws:iam::aws:policy/AdministratorAccess']; }, /managed policies/],
  ['SAM Policies used', (t) => { t.Resources.MoonbaseFunction.Properties.Policies = ['AWSLambdaBasicExecutionRole']; }, /SAM Policies/],
  ['runtime changed', (t) => { t.Resources.MoonbaseFunction.Properties.Runtime = 'provided.al2'; }, /provided\.al2023/],
  ['arm64', (t) => { t.Resources.MoonbaseFunction.Properties.Architectures = ['arm64']; }, /x86_64/],
  ['env var missing', (t) => { delete t.Resources.MoonbaseFunction.Properties.Environment.Variables.CORS_ALLOWED_ORIGINS; }, /CORS_ALLOWED_ORIGINS/],
  ['cursor secret missing', (t) => { delete t.Resources.MoonbaseFunction.Properties.Environment.Variables.CURSOR_SECRET_ARN; }, /CURSOR_SECRET_ARN/],
  ['cursor key in the environment', (t) => { t.Resources.MoonbaseFunction.Properties.Environment.Variables.CURSOR_SECRET = 'x'; }, /CURSOR_SECRET holds a secret value/],
  ['tracing off', (t) => { t.Resources.MoonbaseFunction.Properties.Tracing = 'PassThrough'; }, /Tracing/],
  ['password length 8', (t) => { t.Resources.UserPool.Properties.Policies.PasswordPolicy.MinimumLength = 8; }, /MinimumLength/],
  ['symbols required', (t) => { t.Resources.UserPool.Properties.Policies.PasswordPolicy.RequireSymbols = true; }, /RequireSymbols/],
  ['tenant mutable', (t) => { t.Resources.UserPool.Properties.Schema[1].Mutable = true; }, /tenant_id/],
  ['tenant writable by users', (t) => t.Resources.UserPoolClient.Properties.WriteAttributes.push('custom:tenant_id'), /tenant_id/],
  ['client secret', (t) => { t.Resources.UserPoolClient.Properties.GenerateSecret = true; }, /GenerateSecret/],
  ['SRP flow dropped', (t) => t.Resources.UserPoolClient.Properties.ExplicitAuthFlows.pop(), /ExplicitAuthFlows/],
  ['keys renamed', (t) => { t.Resources.Table.Properties.KeySchema[0].AttributeName = 'pk'; }, /KeySchema/],
  ['GSI added', (t) => { t.Resources.Table.Properties.GlobalSecondaryIndexes = []; }, /secondary/],
  ['PITR off', (t) => { t.Resources.Table.Properties.PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled = false; }, /point-in-time/],
  ['provisioned', (t) => { t.Resources.Table.Properties.BillingMode = 'PROVISIONED'; }, /PAY_PER_REQUEST/],
  ['public bucket', (t) => { t.Resources.FrontendBucket.Properties.PublicAccessBlockConfiguration.BlockPublicPolicy = false; }, /BlockPublicPolicy/],
  ['http allowed', (t) => { t.Resources.FrontendDistribution.Properties.DistributionConfig.DefaultCacheBehavior.ViewerProtocolPolicy = 'allow-all'; }, /HTTPS/],
  ['p99 alarm gone', (t) => { delete t.Resources.LatencyP99Alarm; }, /Latency missing|Ref to unknown|names nothing/],
  ['throttle alarm gone', (t) => { delete t.Resources.FunctionThrottlesAlarm; }, /Throttles missing|names nothing/],
  ['dashboard JSON broken', (t) => { t.Resources.Dashboard.Properties.DashboardBody['Fn::Sub'][0] += ','; }, /Dashboard/],
  ['output dropped', (t) => { delete t.Outputs.DistributionDomain; }, /DistributionDomain/],
  ['dangling Ref', (t) => { t.Resources.MoonbaseFunction.Properties.Environment.Variables.TABLE_NAME = { Ref: 'Tabel' }; }, /unknown Tabel|TABLE_NAME/],
  ['dangling Sub', (t) => { t.Outputs.ApiUrl.Value = { 'Fn::Sub': 'https://${HttpApii}.example' }; }, /HttpApii/],
  ['environment list changed', (t) => { t.Parameters.Environment.AllowedValues.push('test'); }, /Environment/],
  // REST API, cache, WAF, usage plan, authorizer (issue 15)
  ['cache key without Authorization', (t) => { delete t.Resources.MoonbaseFunction.Properties.Events.GetProfile.Properties.RequestParameters; }, /GET \/profile is cached but Authorization is not in its cache key/],
  ['Authorization required but not cached', (t) => { t.Resources.MoonbaseFunction.Properties.Events.GetProfile.Properties.RequestParameters[0]['method.request.header.Authorization'].Caching = false; }, /not in its cache key/],
  ['another method cached without the key', (t) => t.Resources.Api.Properties.MethodSettings.push({ ResourcePath: '/~1me', HttpMethod: 'GET', CachingEnabled: true, CacheTtlInSeconds: 60 }), /GET \/me is cached but Authorization/],
  ['cache on in every environment', (t) => { t.Resources.Api.Properties.CacheClusterEnabled = true; }, /CacheClusterEnabled/],
  ['profile TTL changed', (t) => { t.Resources.Api.Properties.MethodSettings[1]['Fn::If'][1].CacheTtlInSeconds = 3600; }, /TTL 300/],
  ['HTTP API instead', (t) => { t.Resources.Other = { Type: 'AWS::Serverless::HttpApi', Properties: {} }; }, /REST API/],
  ['X-Ray off at the gateway', (t) => { t.Resources.Api.Properties.TracingEnabled = false; }, /TracingEnabled/],
  ['access log not JSON', (t) => { t.Resources.Api.Properties.AccessLogSetting.Format = '$context.requestId $context.status'; }, /JSON/],
  ['stage throttling dropped', (t) => { t.Resources.Api.Properties.MethodSettings[0].ThrottlingRateLimit = 10000; }, /throttle/],
  ['usage plan unbound', (t) => { t.Resources.UsagePlan.Properties.ApiStages = []; }, /UsagePlan must be bound/],
  ['usage plan throttle', (t) => { t.Resources.UsagePlan.Properties.Throttle.RateLimit = 5; }, /UsagePlan.Throttle/],
  ['WAF not associated', (t) => { delete t.Resources.WebAclAssociation; }, /associated/],
  ['WAF known-bad-inputs dropped', (t) => t.Resources.WebAcl.Properties.Rules.splice(1, 1), /KnownBadInputs/],
  ['WAF rate rule dropped', (t) => t.Resources.WebAcl.Properties.Rules.splice(2, 1), /rate-based/],
  ['WAF cannot be turned off', (t) => { delete t.Resources.WebAcl.Condition; }, /switchable/],
  ['authorizer removed from /me', (t) => { delete t.Resources.MoonbaseFunction.Properties.Events.GetMe.Properties.Auth; }, /GET \/me is auth = true/],
  ['authorizer on public /hello', (t) => { t.Resources.MoonbaseFunction.Properties.Events.GetHello.Properties.Auth = { Authorizer: 'CognitoAuthorizer' }; }, /GET \/hello is public/],
  ['default authorizer', (t) => { t.Resources.Api.Properties.Auth.DefaultAuthorizer = 'CognitoAuthorizer'; }, /DefaultAuthorizer/],
  ['preflight method gone', (t) => { delete t.Resources.MoonbaseFunction.Properties.Events.OptionsMe; }, /\/me has no OPTIONS/],
  ['no alias', (t) => { delete t.Resources.MoonbaseFunction.Properties.AutoPublishAlias; }, /AutoPublishAlias/],
  ['prod all at once', (t) => { t.Mappings.Deploy.prod.Type = 'AllAtOnce'; }, /Canary10Percent5Minutes in prod/],
  ['latency rollback alarm dropped', (t) => t.Resources.MoonbaseFunction.Properties.DeploymentPreference.Alarms.pop(), /latency/],
  ['layer not built by make', (t) => { delete t.Resources.SharedLibsLayer.Metadata; }, /BuildMethod/],
  ['libraries back in /var/task', (t) => { t.Resources.MoonbaseFunction.Properties.Environment.Variables.LD_LIBRARY_PATH = '/var/task/lib'; }, /\/opt\/lib/],
  ['secrets on *', (t) => { t.Resources.FunctionRole.Properties.Policies[2].PolicyDocument.Statement[0].Resource = '*'; }, /wildcard|SECRET_ARNS/],
  ['one more secret than allowed', (t) => { t.Resources.FunctionRole.Properties.Policies[2].PolicyDocument.Statement[0].Resource = [{ Ref: 'CursorSecret' }, 'arn:aws:secretsmanager:us-east-1:1:secret:other']; }, /exactly the SECRET_ARNS/],
  ['wildcard inside an ARN', (t) => { t.Resources.CodeDeployRole.Properties.Policies[0].PolicyDocument.Statement[1].Resource = 'arn:aws:cloudwatch:us-east-1:1:alarm:*'; }, /wildcard ARN/],
  ['reserved concurrency hard-coded', (t) => { t.Resources.MoonbaseFunction.Properties.ReservedConcurrentExecutions = 5; }, /ReservedConcurrency/],
  ['Grafana always on', (t) => { delete t.Resources.GrafanaWorkspace.Condition; }, /UseGrafana/],
  ['no DynamoDB endpoint in VPC mode', (t) => { delete t.Resources.DynamoDbEndpoint; }, /dynamodb VPC endpoint/],
  ['alias ARN output dropped', (t) => { delete t.Outputs.AliasArn; }, /AliasArn/],
];

for (const [name, mutate, expect] of mutations) {
  test(`a broken template is caught: ${name}`, () => {
    const t = fresh();
    mutate(t);
    const problems = checkTemplate(t, { makefile, routes });
    assert.ok(problems.some((p) => expect.test(p)), `expected a problem matching ${expect}, got ${JSON.stringify(problems)}`);
  });
}

test('the allowed DynamoDB action list is the contract', () => {
  assert.deepEqual([...ALLOWED_DDB_ACTIONS].sort(), ['dynamodb:BatchGetItem', 'dynamodb:BatchWriteItem',
    'dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem']);
});

test('Makefile target is missing -> reported', () => {
  assert.ok(checkTemplate(fresh(), { makefile: 'build-Other:\n' }).some((p) => /build-MoonbaseFunction/.test(p)));
});

test('samconfig.toml has dev, staging and prod, each deploying its own Environment', () => {
  const toml = readFileSync(join(sam, 'samconfig.toml'), 'utf8');
  for (const env of ['dev', 'staging', 'prod']) {
    const section = toml.split(`[${env}.deploy.parameters]`)[1];
    assert.ok(section, `[${env}.deploy.parameters] missing`);
    const body = section.split(/^\[/m)[0];
    assert.match(body, new RegExp(`^stack_name = "moonbase-${env}"$`, 'm'));
    assert.match(body, new RegExp(`^parameter_overrides = ".*\\bEnvironment=${env}\\b.*"$`, 'm'));
    assert.match(body, /^capabilities = "CAPABILITY_IAM"$/m);
    assert.match(toml, new RegExp(`^\\[${env}\\.build\\.parameters\\]\\nbuild_in_source = true$`, 'm'));
  }
  assert.doesNotMatch(toml.split('[prod.deploy.parameters]')[1].split(/^\[/m)[0], /AllowedOrigins=\*/);
});

test('env.json overrides only variables the template declares (SAM ignores the others)', () => {
  const env = JSON.parse(readFileSync(join(sam, 'env.json'), 'utf8'));
  const declared = fresh().Resources.MoonbaseFunction.Properties.Environment.Variables;
  assert.deepEqual(Object.keys(env), ['MoonbaseFunction']);
  for (const k of Object.keys(env.MoonbaseFunction)) assert.ok(k in declared, `${k} is not declared in the template`);
  assert.match(env.MoonbaseFunction.DYNAMODB_ENDPOINT, /^http:\/\/host\.docker\.internal:8000$/);
});

test('every event file is an API Gateway event in valid JSON', () => {
  const dir = join(sam, 'events');
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  assert.ok(files.length > 0);
  for (const f of files) {
    const ev = JSON.parse(readFileSync(join(dir, f), 'utf8'));
    const v2 = ev.version === '2.0' && typeof ev.rawPath === 'string' && ev.requestContext && ev.requestContext.http;
    const v1 = typeof ev.httpMethod === 'string' && typeof ev.path === 'string';
    assert.ok(v2 || v1, `${f} is neither an HTTP API v2 nor a REST v1 event`);
  }
});

const outputs = (over = {}) => Object.entries({
  ApiUrl: 'https://abc123.execute-api.eu-west-1.amazonaws.com/', Region: 'eu-west-1',
  UserPoolId: 'eu-west-1_AbC123', UserPoolClientId: '1h2j3k4l5m6n7o8p9q0r1s2t3u', Environment: 'staging',
  TableName: 'x', ...over,
}).filter(([, v]) => v !== undefined).map(([OutputKey, OutputValue]) => ({ OutputKey, OutputValue }));

test('config.json from stack outputs has exactly the contract fields', () => {
  assert.deepEqual(configFromOutputs(outputs()), {
    apiUrl: 'https://abc123.execute-api.eu-west-1.amazonaws.com',
    cognitoEndpoint: 'https://cognito-idp.eu-west-1.amazonaws.com/',
    region: 'eu-west-1', userPoolId: 'eu-west-1_AbC123', clientId: '1h2j3k4l5m6n7o8p9q0r1s2t3u',
    environment: 'staging',
  });
});

test('config.json refuses missing or malformed outputs', () => {
  assert.throws(() => configFromOutputs({}), /array/);
  assert.throws(() => configFromOutputs(outputs({ UserPoolId: undefined })), /UserPoolId is missing/);
  assert.throws(() => configFromOutputs(outputs({ ApiUrl: 'http://insecure.example' })), /ApiUrl/);
  assert.throws(() => configFromOutputs(outputs({ Environment: 'local' })), /Environment/);
  assert.throws(() => configFromOutputs(outputs({ Region: 'mars' })), /Region/);
});

test('the template outputs feed config.json: every key it reads is an Output', () => {
  const outs = Object.keys(fresh().Outputs);
  for (const k of ['ApiUrl', 'Region', 'UserPoolId', 'UserPoolClientId', 'Environment']) assert.ok(outs.includes(k), k);
});

// sam/grafana/dashboard.json shows the same panels (titles and metrics) as the CloudWatch one.
function cloudwatchPanels(dash) {
  return dash.widgets.filter((w) => w.type === 'metric').map((w) => {
    const names = new Set();
    for (const row of w.properties.metrics) {
      const [ns, metric] = row;
      if (typeof metric === 'string' && metric !== '.' && typeof ns === 'string') names.add(metric);
      const e = row.find((x) => x && typeof x === 'object' && x.expression);
      if (e) for (const m of e.expression.matchAll(/MetricName="(\w+)"/g)) names.add(m[1]);
    }
    return { title: w.properties.title, metrics: [...names].sort() };
  });
}
function grafanaPanels(dash) {
  return dash.panels.map((p) => {
    const names = new Set();
    for (const t of p.targets) {
      if (t.metricName) names.add(t.metricName);
      for (const m of String(t.expression || '').matchAll(/MetricName="(\w+)"/g)) names.add(m[1]);
    }
    return { title: p.title, metrics: [...names].sort() };
  });
}
const titleKey = (s) => s.replace(/sample-\S+|\$\w+/g, '').trim();

test('the Grafana dashboard has the CloudWatch dashboard\'s panels and metrics', () => {
  const grafana = JSON.parse(readFileSync(join(sam, 'grafana', 'dashboard.json'), 'utf8'));
  const cw = cloudwatchPanels(dashboardJson(fresh()));
  const gf = grafanaPanels(grafana);
  assert.equal(gf.length, cw.length);
  for (const w of cw) {
    const p = gf.find((x) => titleKey(x.title) === titleKey(w.title));
    assert.ok(p, `no Grafana panel for "${w.title}"`);
    assert.deepEqual(p.metrics, w.metrics, `metrics of "${w.title}"`);
  }
  for (const p of grafana.panels) {
    for (const t of p.targets) assert.equal(t.datasource.type, 'cloudwatch');
  }
  const vars = grafana.templating.list.map((v) => v.name);
  for (const v of ['datasource', 'region', 'namespace', 'environment', 'function', 'api', 'stage']) assert.ok(vars.includes(v), v);
  // The comparison itself can fail: a panel losing a metric is noticed.
  const broken = structuredClone(grafana);
  broken.panels[1].targets.pop(); // "Requests, errors, cold starts" loses ColdStart
  const p1 = grafanaPanels(broken)[1];
  assert.notDeepEqual(p1.metrics, cw.find((w) => titleKey(w.title) === titleKey(p1.title)).metrics);
});
