// cognito_helper.mjs - real tokens from cognito-local for integration tests, over the Cognito
// JSON API with plain fetch: create a user pool (username = email, custom:tenant_id) and an app
// client (configured as scripts/seed does: users may write only `email`), sign a user up, confirm
// it (AdminConfirmSignUp), log in with USER_PASSWORD_AUTH; or, for a named tenant, the admin path
// (AdminCreateUser with custom:tenant_id, then the group tenant:<name>).
// As a module: `await cognitoTokens({ endpoint, email, password, tenant })`.
// As a script: `node tests/integration/cognito_helper.mjs [email] [password]` prints one JSON
// object {endpoint, poolId, clientId, issuer, idToken, accessToken} on stdout.
// Endpoint: $MB_COGNITO_ENDPOINT, else http://localhost:$MB_COGNITO_PORT (default 19229).

export function cognitoEndpoint() {
  return process.env.MB_COGNITO_ENDPOINT || `http://localhost:${process.env.MB_COGNITO_PORT || 19229}`;
}

export async function cognitoCall(endpoint, op, body) {
  const res = await fetch(endpoint + "/", {
    method: "POST",
    headers: {
      // No kept-alive socket: callers block their event loop in spawnSync between calls, and a
      // socket the server closed meanwhile would be reused unseen ("fetch failed" under load).
      connection: "close",
      "content-type": "application/x-amz-json-1.1",
      "x-amz-target": `AWSCognitoIdentityProviderService.${op}`,
      // cognito-local does not check signatures; the header keeps the request AWS-shaped.
      authorization: "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/cognito-idp/aws4_request",
    },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) {
    throw new Error(`cognito ${op}: HTTP ${res.status}: ${text}`);
  }
  return text ? JSON.parse(text) : {};
}

export async function createPoolAndClient(endpoint, name = `moonbase-test-${Date.now()}`) {
  const pool = await cognitoCall(endpoint, "CreateUserPool", {
    PoolName: name,
    UsernameAttributes: ["email"],
    AutoVerifiedAttributes: ["email"],
    Policies: {
      PasswordPolicy: {
        MinimumLength: 10, RequireUppercase: true, RequireLowercase: true,
        RequireNumbers: true, RequireSymbols: false,
      },
    },
    Schema: [{ Name: "tenant_id", AttributeDataType: "String", Mutable: false }],
  });
  const poolId = pool.UserPool.Id;
  const client = await cognitoCall(endpoint, "CreateUserPoolClient", {
    UserPoolId: poolId,
    ClientName: `${name}-client`,
    ExplicitAuthFlows: ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    ReadAttributes: ["email", "email_verified", "custom:tenant_id"],
    WriteAttributes: ["email"],
  });
  return { poolId, clientId: client.UserPoolClient.ClientId };
}

// The admin path into a named tenant: the group tenant:<name>, which only an administrator can
// add a user to (custom:tenant_id is immutable: an admin sets it only when creating a user).
export async function adminAddToTenant(endpoint, poolId, email, tenant) {
  const group = `tenant:${tenant}`;
  try {
    await cognitoCall(endpoint, "CreateGroup", { UserPoolId: poolId, GroupName: group });
  } catch (e) {
    if (!/GroupExists/.test(e.message)) throw e;
  }
  await cognitoCall(endpoint, "AdminAddUserToGroup", { UserPoolId: poolId, Username: email, GroupName: group });
}

// An administrator creates a tenant member: custom:tenant_id at creation, then the group.
export async function adminCreateTenantUser(endpoint, { poolId, clientId }, email, password, tenant) {
  await cognitoCall(endpoint, "AdminCreateUser", {
    UserPoolId: poolId, Username: email, MessageAction: "SUPPRESS", TemporaryPassword: password,
    UserAttributes: [{ Name: "email", Value: email }, { Name: "email_verified", Value: "true" },
      { Name: "custom:tenant_id", Value: tenant }],
  });
  await cognitoCall(endpoint, "AdminSetUserPassword", { UserPoolId: poolId, Username: email, Password: password, Permanent: true });
  await adminAddToTenant(endpoint, poolId, email, tenant);
  return login(endpoint, clientId, email, password);
}

export async function login(endpoint, clientId, email, password) {
  const auth = await cognitoCall(endpoint, "InitiateAuth", {
    AuthFlow: "USER_PASSWORD_AUTH",
    ClientId: clientId,
    AuthParameters: { USERNAME: email, PASSWORD: password },
  });
  const r = auth.AuthenticationResult;
  if (!r || !r.IdToken || !r.AccessToken) {
    throw new Error(`InitiateAuth returned no tokens: ${JSON.stringify(auth)}`);
  }
  return { idToken: r.IdToken, accessToken: r.AccessToken };
}

// Sign up as a user would (only `email`, plus `selfAttrs` to try what a user could send),
// confirm, log in. With `tenant`, an administrator creates the user in that tenant instead.
export async function signUpConfirmLogin(endpoint, ids, email, password, tenant, selfAttrs = []) {
  const { poolId, clientId } = ids;
  if (tenant) return adminCreateTenantUser(endpoint, ids, email, password, tenant);
  await cognitoCall(endpoint, "SignUp", {
    ClientId: clientId, Username: email, Password: password,
    UserAttributes: [{ Name: "email", Value: email }, ...selfAttrs],
  });
  await cognitoCall(endpoint, "AdminConfirmSignUp", { UserPoolId: poolId, Username: email });
  return login(endpoint, clientId, email, password);
}

export async function cognitoTokens({
  endpoint = cognitoEndpoint(),
  email = `user-${Date.now()}-${Math.floor(Math.random() * 1e6)}@moonbase.test`,
  password = "MoonbaseTest1",
  tenant,
} = {}) {
  const ids = await createPoolAndClient(endpoint);
  const tokens = await signUpConfirmLogin(endpoint, ids, email, password, tenant);
  return { endpoint, ...ids, issuer: `${endpoint}/${ids.poolId}`, email, ...tokens };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [email, password] = process.argv.slice(2);
  cognitoTokens({ email, password })
    .then((t) => console.log(JSON.stringify(t)))
    .catch((e) => {
      console.error(e.message);
      process.exit(1);
    });
}
