// tests/infra/template-checks.mjs - structural rules for sam/template.yaml that must hold whatever
// else changes: the fixed contracts (Cognito policy, table keys, env vars, EMF names) and the
// least-privilege IAM rules. checkTemplate() returns a list of problems (empty = good), so the test
// can also prove each rule fires on a deliberately broken copy. Runs without cfn-lint or AWS.

export const ALLOWED_DDB_ACTIONS = [
  'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem',
  'dynamodb:Query', 'dynamodb:BatchGetItem', 'dynamodb:BatchWriteItem',
];
// The only statements allowed a wildcard resource, each because AWS offers nothing narrower:
// Sid -> exactly the actions it may grant. Any other "*" (or a '*' inside an ARN) is an error.
export const WILDCARD_STATEMENTS = {
  // X-Ray has no resource-level permissions.
  XRayWrite: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'],
  // Lambda's VPC network interfaces (AWSLambdaVPCAccessExecutionRole is the same list on "*").
  VpcNetworkInterfaces: ['ec2:CreateNetworkInterface', 'ec2:DescribeNetworkInterfaces',
    'ec2:DescribeSubnets', 'ec2:DeleteNetworkInterface', 'ec2:AssignPrivateIpAddresses',
    'ec2:UnassignPrivateIpAddresses'],
  // The account-level API Gateway logging role serves every API of the account and region.
  ApiGatewayAccountLogs: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:DescribeLogGroups',
    'logs:DescribeLogStreams', 'logs:PutLogEvents', 'logs:GetLogEvents', 'logs:FilterLogEvents'],
  // CloudWatch metric reads and Logs Insights results have no resource-level permissions.
  CloudWatchMetricsRead: ['cloudwatch:GetMetricData', 'cloudwatch:ListMetrics',
    'cloudwatch:DescribeAlarmsForMetric', 'cloudwatch:DescribeAlarmHistory',
    'cloudwatch:GetInsightRuleReport'],
  LogsQueryResults: ['logs:GetQueryResults', 'logs:StopQuery', 'logs:DescribeLogGroups'],
};
export const REQUIRED_ENV = ['TABLE_NAME', 'USER_POOL_ID', 'CLIENT_ID', 'ENVIRONMENT', 'LOG_LEVEL',
  'CORS_ALLOWED_ORIGINS', 'METRICS_NAMESPACE', 'CURSOR_SECRET_ARN', 'SECRET_ARNS'];
// Secret values never go into the function's configuration (readable with lambda:GetFunction):
// the runtime reads them from Secrets Manager (docs/security.md#secrets).
export const FORBIDDEN_ENV = ['CURSOR_SECRET'];
export const REQUIRED_OUTPUTS = ['ApiUrl', 'UserPoolId', 'UserPoolClientId', 'TableName',
  'FrontendBucket', 'DistributionDomain', 'Region', 'AliasArn'];
const PSEUDO = ['AWS::AccountId', 'AWS::NotificationARNs', 'AWS::NoValue', 'AWS::Partition',
  'AWS::Region', 'AWS::StackId', 'AWS::StackName', 'AWS::URLSuffix'];

const asList = (v) => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
const sortedSame = (a, b) => same([...a].sort(), [...b].sort());
const ofType = (t, type) => Object.entries(t.Resources || {}).filter(([, r]) => r.Type === type);

// Every IAM statement in the template, wherever it sits (roles, policies, SAM Policies); role =
// the role it ends up on.
function statements(t) {
  const out = [];
  const push = (where, doc, role) => {
    for (const s of asList(doc && doc.Statement)) out.push({ where, s, role });
  };
  for (const [id, r] of Object.entries(t.Resources || {})) {
    const p = r.Properties || {};
    if (r.Type === 'AWS::IAM::Role') {
      for (const pol of asList(p.Policies)) push(`${id}/${pol.PolicyName}`, pol.PolicyDocument, id);
    }
    if (r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy') {
      const roles = asList(p.Roles).map((x) => (x && x.Ref) || x);
      push(id, p.PolicyDocument, roles.length === 1 ? roles[0] : undefined);
    }
    if (r.Type === 'AWS::Serverless::Function') {
      for (const pol of asList(p.Policies)) if (pol && pol.Statement) push(`${id}/Policies`, pol);
    }
  }
  return out;
}

// The literal text of a resource (Sub strings and GetAtt/Ref names), to spot a '*' in an ARN.
const resourceText = (r) => JSON.stringify(r);
const hasWildcard = (r) => r === '*' || /\*/.test(resourceText(r).replace(/\$\{[^}]*\}/g, ''));

function checkIam(t, bad) {
  const ddbSeen = new Set();
  for (const { where, s, role } of statements(t)) {
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
    if (resources.some(hasWildcard)) {
      const allowed = WILDCARD_STATEMENTS[s.Sid];
      if (!allowed || !actions.every((a) => allowed.includes(a))) {
        bad.push(`${where}: Resource "*" (or a wildcard ARN) with ${actions.join(', ')}`);
      }
    }
    if (actions.some((a) => String(a).startsWith('dynamodb:')) &&
        !same(resources, [{ 'Fn::GetAtt': ['Table', 'Arn'] }])) {
      bad.push(`${where}: DynamoDB actions must target exactly the table ARN, got ${JSON.stringify(resources)}`);
    }
    if (role === 'FunctionRole' && actions.some((a) => String(a).startsWith('logs:')) &&
        !same(resources, [{ 'Fn::GetAtt': ['FunctionLogGroup', 'Arn'] }])) {
      bad.push(`${where}: logs actions must target only the function's log group`);
    }
    if (actions.includes('secretsmanager:GetSecretValue')) checkSecretResource(t, where, s, bad);
  }
  if (!sortedSame([...ddbSeen], ALLOWED_DDB_ACTIONS)) {
    bad.push(`DynamoDB actions granted are ${JSON.stringify([...ddbSeen].sort())}, expected exactly ${JSON.stringify([...ALLOWED_DDB_ACTIONS].sort())}`);
  }
  for (const [id, r] of ofType(t, 'AWS::IAM::Role')) {
    if (r.Properties.ManagedPolicyArns) bad.push(`${id}: managed policies are not allowed (least privilege)`);
  }
}

// GetSecretValue on exactly the ARNs the function is told it may read (SECRET_ARNS): the same
// cursor secret and SecretArns list, nothing more.
function checkSecretResource(t, where, s, bad) {
  const fn = t.Resources.MoonbaseFunction;
  const env = (fn && fn.Properties.Environment && fn.Properties.Environment.Variables) || {};
  const list = env.SECRET_ARNS;
  const want = list && list['Fn::If']
    ? { 'Fn::If': [list['Fn::If'][0], { 'Fn::Split': [',', list['Fn::If'][1]] }, [list['Fn::If'][2]]] }
    : [list];
  if (!same(s.Resource, want)) {
    bad.push(`${where}: GetSecretValue must name exactly the SECRET_ARNS secrets, got ${JSON.stringify(s.Resource)}`);
  }
  const flat = JSON.stringify(s.Resource);
  if (!flat.includes('"Ref":"CursorSecret"') || (flat.includes('SecretArns') && !flat.includes('HasSecretArns'))) {
    bad.push(`${where}: GetSecretValue must cover the cursor secret and the SecretArns parameter`);
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
  for (const k of FORBIDDEN_ENV) if (k in env) bad.push(`${id}: environment variable ${k} holds a secret value: read it at run time`);
  if (env.LD_LIBRARY_PATH !== '/opt/lib') bad.push(`${id}: LD_LIBRARY_PATH must be /opt/lib (the layer)`);
  if (env.SSL_CERT_FILE !== '/opt/certs/ca-certificates.crt') bad.push(`${id}: SSL_CERT_FILE must be the layer's CA bundle`);
  // The layer: shared libraries + CA bundle, built by sam/Makefile (glibc <= 2.34 check).
  const layers = ofType(t, 'AWS::Serverless::LayerVersion');
  if (layers.length !== 1) {
    bad.push(`expected one AWS::Serverless::LayerVersion (shared libraries), found ${layers.length}`);
  } else {
    const [lid, layer] = layers[0];
    if (!layer.Metadata || layer.Metadata.BuildMethod !== 'makefile') bad.push(`${lid}: Metadata.BuildMethod must be makefile`);
    if (!same(layer.Properties.CompatibleRuntimes, ['provided.al2023'])) bad.push(`${lid}: CompatibleRuntimes must be [provided.al2023]`);
    if (!same(p.Layers, [{ Ref: lid }])) bad.push(`${id}: Layers must be [${lid}]`);
    if (makefile !== undefined && !new RegExp(`^build-${lid}:`, 'm').test(makefile)) bad.push(`sam/Makefile has no build-${lid} target`);
  }
  // Canary deploys: a live alias, CodeDeploy with the rollback alarms, canary in prod.
  if (p.AutoPublishAlias !== 'live') bad.push(`${id}: AutoPublishAlias must be live`);
  const dp = p.DeploymentPreference || {};
  const map = (t.Mappings || {}).Deploy || {};
  if (!same(dp.Type, { 'Fn::FindInMap': ['Deploy', { Ref: 'Environment' }, 'Type'] }) ||
      (map.prod || {}).Type !== 'Canary10Percent5Minutes' || (map.dev || {}).Type !== 'AllAtOnce') {
    bad.push(`${id}: DeploymentPreference.Type must be Canary10Percent5Minutes in prod, AllAtOnce in dev (Mappings.Deploy)`);
  }
  const alarms = asList(dp.Alarms).map((a) => a && a.Ref);
  const alarmOn = (metric) => alarms.some((a) => {
    const r = t.Resources[a];
    return r && r.Type === 'AWS::CloudWatch::Alarm' && r.Properties.Namespace === 'AWS/Lambda' &&
      r.Properties.MetricName === metric &&
      asList(r.Properties.Dimensions).some((d) => d.Name === 'Resource' && JSON.stringify(d.Value).includes(':live'));
  });
  if (!alarmOn('Errors')) bad.push(`${id}: DeploymentPreference needs an error alarm on the live alias`);
  if (!alarmOn('Duration')) bad.push(`${id}: DeploymentPreference needs a latency (Duration) alarm on the live alias`);
  if (!same(p.ReservedConcurrentExecutions, { 'Fn::If': ['HasReserved', { Ref: 'ReservedConcurrency' }, { Ref: 'AWS::NoValue' }] })) {
    bad.push(`${id}: ReservedConcurrentExecutions must come from the ReservedConcurrency parameter`);
  }
  if (!JSON.stringify(p.ProvisionedConcurrencyConfig || '').includes('"Ref":"ProvisionedConcurrency"')) {
    bad.push(`${id}: ProvisionedConcurrencyConfig must come from the ProvisionedConcurrency parameter`);
  }
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
  for (const k of ['ThrottleRateLimit', 'ThrottleBurstLimit']) if (!P[k]) bad.push(`Parameter ${k} missing`);
  if (P.ThrottleRateLimit && P.ThrottleRateLimit.Default !== 100) bad.push('Parameter ThrottleRateLimit must default to 100');
  if (P.ThrottleBurstLimit && P.ThrottleBurstLimit.Default !== 200) bad.push('Parameter ThrottleBurstLimit must default to 200');
  for (const k of ['GrafanaEnabled', 'VpcEnabled', 'GuardDutyEnabled']) {
    if (!P[k] || P[k].Default !== 'false') bad.push(`Parameter ${k} must exist and default to "false" (optional extra)`);
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
  const o = t.Outputs || {};
  if (o.ApiUrl && !JSON.stringify(o.ApiUrl.Value).includes('${Api}.execute-api.')) bad.push('Output ApiUrl must be the REST API stage URL');
  if (!o.GrafanaWorkspaceUrl || o.GrafanaWorkspaceUrl.Condition !== 'UseGrafana') {
    bad.push('Output GrafanaWorkspaceUrl must exist under Condition UseGrafana');
  }
}

// The REST API: stage throttling + usage plan, JSON access logs, X-Ray, WAF, prod cache.
function checkApi(t, bad) {
  if (ofType(t, 'AWS::Serverless::HttpApi').length) bad.push('the tested default is the REST API: no AWS::Serverless::HttpApi');
  const apis = ofType(t, 'AWS::Serverless::Api');
  if (apis.length !== 1) { bad.push(`expected one AWS::Serverless::Api (REST), found ${apis.length}`); return; }
  const [aid, api] = apis[0];
  const p = api.Properties || {};
  if (p.TracingEnabled !== true) bad.push(`${aid}: TracingEnabled (X-Ray) must be true`);
  const fmt = (p.AccessLogSetting || {}).Format;
  let log;
  try { log = JSON.parse(fmt); } catch { bad.push(`${aid}: AccessLogSetting.Format must be JSON`); }
  if (log && !(log.requestId && log.status && log.ip)) bad.push(`${aid}: access log lacks requestId/status/ip`);
  if (!same((p.AccessLogSetting || {}).DestinationArn, { 'Fn::GetAtt': ['ApiAccessLogGroup', 'Arn'] })) {
    bad.push(`${aid}: access logs must go to ApiAccessLogGroup`);
  }
  const ms = asList(p.MethodSettings);
  const all = ms.find((m) => m && m.ResourcePath === '/*' && m.HttpMethod === '*');
  if (!all || !same(all.ThrottlingRateLimit, { Ref: 'ThrottleRateLimit' }) || !same(all.ThrottlingBurstLimit, { Ref: 'ThrottleBurstLimit' })) {
    bad.push(`${aid}: MethodSettings /* must throttle with ThrottleRateLimit/ThrottleBurstLimit`);
  }
  const plans = ofType(t, 'AWS::ApiGateway::UsagePlan');
  if (plans.length !== 1) bad.push(`expected one usage plan, found ${plans.length}`);
  else {
    const up = plans[0][1].Properties;
    if (!asList(up.ApiStages).some((s) => same(s.ApiId, { Ref: aid }))) bad.push('UsagePlan must be bound to the API stage');
    if (!same(up.Throttle, { RateLimit: { Ref: 'ThrottleRateLimit' }, BurstLimit: { Ref: 'ThrottleBurstLimit' } })) {
      bad.push('UsagePlan.Throttle must use ThrottleRateLimit/ThrottleBurstLimit');
    }
  }
  checkWaf(t, aid, bad);
  checkCache(t, aid, p, bad);
}

function checkWaf(t, aid, bad) {
  const acls = ofType(t, 'AWS::WAFv2::WebACL');
  if (acls.length !== 1) { bad.push(`expected one WAFv2 web ACL, found ${acls.length}`); return; }
  const [wid, acl] = acls[0];
  if (acl.Properties.Scope !== 'REGIONAL') bad.push(`${wid}: Scope must be REGIONAL (API Gateway)`);
  const groups = asList(acl.Properties.Rules).map((r) => r.Statement && r.Statement.ManagedRuleGroupStatement)
    .filter(Boolean).map((g) => `${g.VendorName}/${g.Name}`);
  for (const g of ['AWS/AWSManagedRulesCommonRuleSet', 'AWS/AWSManagedRulesKnownBadInputsRuleSet']) {
    if (!groups.includes(g)) bad.push(`${wid}: managed rule group ${g} missing`);
  }
  if (!asList(acl.Properties.Rules).some((r) => r.Statement && r.Statement.RateBasedStatement && r.Action && r.Action.Block)) {
    bad.push(`${wid}: a blocking rate-based rule is required`);
  }
  const assoc = ofType(t, 'AWS::WAFv2::WebACLAssociation').map(([, a]) => a);
  const linked = assoc.find((a) => same(a.Properties.WebACLArn, { 'Fn::GetAtt': [wid, 'Arn'] }) &&
    JSON.stringify(a.Properties.ResourceArn).includes(`/restapis/\${${aid}}/stages/`));
  if (!linked) bad.push(`${wid}: must be associated with the ${aid} stage`);
  if (acl.Condition !== 'UseWaf' || (linked && linked.Condition !== 'UseWaf')) bad.push(`${wid}: WAF must be switchable (Condition UseWaf)`);
  const rule = ((t.Rules || {}).WafOffOnlyInDev || {});
  if (!JSON.stringify(rule).includes('WafEnabled')) bad.push('Rule WafOffOnlyInDev must keep the WAF on outside dev');
}

// Response caching: only in prod, 0.5 GB, TTL 300 on GET /profile, and every cached method has
// the Authorization header in its cache key (else users would see each other's responses).
function checkCache(t, aid, p, bad) {
  if (!same(p.CacheClusterEnabled, { 'Fn::If': ['IsProd', true, false] })) bad.push(`${aid}: CacheClusterEnabled must be on in prod only`);
  if (!same(p.CacheClusterSize, { 'Fn::If': ['IsProd', '0.5', { Ref: 'AWS::NoValue' }] })) bad.push(`${aid}: CacheClusterSize must be 0.5 (GB) in prod`);
  const settings = asList(p.MethodSettings).map((m) => (m && m['Fn::If'] ? m['Fn::If'][1] : m));
  const cached = settings.filter((m) => m && m.CachingEnabled === true);
  const profile = cached.find((m) => m.ResourcePath === '/~1profile' && m.HttpMethod === 'GET');
  if (!profile || profile.CacheTtlInSeconds !== 300) bad.push(`${aid}: GET /profile must be cached with TTL 300`);
  const events = apiEvents(t);
  for (const m of cached) {
    const path = m.ResourcePath.slice(1).replace(/~1/g, '/'); // "/~1profile" -> "/profile"
    const ev = events.find((e) => e.path === path && e.method === m.HttpMethod);
    const params = asList(ev && ev.props.RequestParameters);
    const key = params.some((x) => x && typeof x === 'object' &&
      x['method.request.header.Authorization'] && x['method.request.header.Authorization'].Caching === true);
    if (!key) bad.push(`${m.HttpMethod} ${path} is cached but Authorization is not in its cache key (users would see each other's data)`);
  }
}

// The function's Api events as {id, path, method, authorizer, props}.
export function apiEvents(t) {
  const fn = t.Resources.MoonbaseFunction;
  const events = (fn && fn.Properties && fn.Properties.Events) || {};
  return Object.entries(events).filter(([, e]) => e.Type === 'Api').map(([id, e]) => ({
    id, path: e.Properties.Path, method: String(e.Properties.Method).toUpperCase(),
    authorizer: e.Properties.Auth && e.Properties.Auth.Authorizer, props: e.Properties,
  }));
}

// The Cognito authorizer sits on exactly the routes.lua entries marked auth = true.
export function checkAuthorizer(t, routes) {
  const bad = [];
  const api = (t.Resources.Api || {}).Properties || {};
  const auths = (api.Auth || {}).Authorizers || {};
  const cognito = Object.entries(auths).find(([, a]) => a.UserPoolArn);
  if (!cognito || !same(cognito[1].UserPoolArn, { 'Fn::GetAtt': ['UserPool', 'Arn'] })) {
    bad.push('Api: a Cognito user-pool authorizer on UserPool is required');
  }
  if ((api.Auth || {}).DefaultAuthorizer && api.Auth.DefaultAuthorizer !== 'NONE') {
    bad.push('Api: no DefaultAuthorizer (public routes must stay public)');
  }
  const name = cognito && cognito[0];
  const events = apiEvents(t);
  const ANY = new Set(['ANY']);
  for (const r of routes) {
    const ev = events.find((e) => e.path === r.path && (e.method === r.method || (ANY.has(r.method) && e.method === 'ANY')));
    if (!ev) { bad.push(`routes.lua ${r.method} ${r.path} has no Api event in sam/template.yaml`); continue; }
    if (r.auth && ev.authorizer !== name) bad.push(`${r.method} ${r.path} is auth = true but its API method has no Cognito authorizer`);
    if (!r.auth && ev.authorizer) bad.push(`${r.method} ${r.path} is public but its API method has authorizer ${ev.authorizer}`);
    if (!events.some((e) => e.path === r.path && e.method === 'OPTIONS' && !e.authorizer)) {
      bad.push(`${r.path} has no OPTIONS (CORS preflight) method without authorizer`);
    }
  }
  for (const e of events) {
    if (e.authorizer && !routes.some((r) => r.auth && r.path === e.path && r.method === e.method)) {
      bad.push(`${e.method} ${e.path} has authorizer ${e.authorizer} but routes.lua does not mark it auth = true`);
    }
  }
  if (!events.some((e) => e.path === '/{proxy+}' && e.method === 'ANY' && !e.authorizer)) {
    bad.push('the greedy ANY /{proxy+} method (unknown paths -> the function\'s 404) is missing');
  }
  return bad;
}

// Optional extras exist, each behind its condition.
function checkExtras(t, bad) {
  const want = [['AWS::Grafana::Workspace', 'UseGrafana'], ['AWS::GuardDuty::Detector', 'UseGuardDuty'],
    ['AWS::EC2::VPC', 'UseVpc']];
  for (const [type, cond] of want) {
    const found = ofType(t, type);
    if (found.length !== 1 || found[0][1].Condition !== cond) bad.push(`${type} must exist once under Condition ${cond}`);
  }
  const g = ofType(t, 'AWS::Grafana::Workspace')[0];
  if (g && !(asList(g[1].Properties.DataSources).includes('CLOUDWATCH') && g[1].Properties.RoleArn)) {
    bad.push('Grafana workspace needs the CLOUDWATCH data source and its own role');
  }
  const endpoints = ofType(t, 'AWS::EC2::VPCEndpoint').map(([, e]) => JSON.stringify(e.Properties.ServiceName));
  for (const svc of ['dynamodb', 'secretsmanager']) {
    if (!endpoints.some((e) => e.includes(`.${svc}`))) bad.push(`VPC mode needs a ${svc} VPC endpoint`);
  }
}

// Every Ref / GetAtt / ${} / Condition names something that exists (what cfn-lint would catch).
function checkReferences(t, bad) {
  const params = new Set(Object.keys(t.Parameters || {}));
  const res = new Set(Object.keys(t.Resources || {}));
  const conds = new Set(Object.keys(t.Conditions || {}));
  // SAM's own references: MyApi.Stage, MyFunction.Alias / .Version (resources it generates).
  const samRef = (n) => /^(\w+)\.(Stage|Deployment|Alias|Version)$/.test(n) && res.has(n.split('.')[0]);
  const known = (n) => params.has(n) || res.has(n) || PSEUDO.includes(n) || samRef(n);
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

export function checkTemplate(t, { makefile, routes } = {}) {
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
  checkApi(t, bad);
  checkExtras(t, bad);
  if (routes) bad.push(...checkAuthorizer(t, routes));
  checkReferences(t, bad);
  return bad;
}
