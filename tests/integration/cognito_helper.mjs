// cognito_helper.mjs - real tokens from cognito-local for integration tests, over the Cognito
// JSON API with plain fetch: create a user pool (username = email, custom:tenant_id) and an app
// client, sign a user up, confirm it (AdminConfirmSignUp), log in with USER_PASSWORD_AUTH.
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
  });
  return { poolId, clientId: client.UserPoolClient.ClientId };
}

export async function signUpConfirmLogin(endpoint, { poolId, clientId }, email, password, tenant) {
  const attrs = [{ Name: "email", Value: email }];
  if (tenant) attrs.push({ Name: "custom:tenant_id", Value: tenant });
  await cognitoCall(endpoint, "SignUp", {
    ClientId: clientId, Username: email, Password: password, UserAttributes: attrs,
  });
  await cognitoCall(endpoint, "AdminConfirmSignUp", { UserPoolId: poolId, Username: email });
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
