// cognito.js - a small client for the Cognito user pool JSON API (the same wire protocol
// the AWS SDK uses: POST / with X-Amz-Target: AWSCognitoIdentityProviderService.<Op>).
// Works against real Cognito (https://cognito-idp.<region>.amazonaws.com/) and cognito-local.
// No DOM access here: the module is also exercised from Node with a fake fetch
// (tests/e2e/auth.unit.mjs).

/** An error answered by Cognito (code = the exception name) or by the network (code = "NetworkError"). */
export class CognitoError extends Error {
  constructor(code, message, status = 0) {
    super(message || code);
    this.name = 'CognitoError';
    this.code = code;
    this.status = status;
  }
}

// "NotAuthorizedException" or "com.amazon...#NotAuthorizedException" -> "NotAuthorizedException".
function errorCode(type) {
  const s = String(type || 'UnknownError');
  const hash = s.lastIndexOf('#');
  const code = hash >= 0 ? s.slice(hash + 1) : s;
  return code.split(':')[0] || 'UnknownError';
}

export class CognitoClient {
  /**
   * @param {{cognitoEndpoint: string, clientId: string}} config
   * @param {typeof fetch} [fetchImpl] injected for tests; defaults to the global fetch
   */
  constructor(config, fetchImpl) {
    this.endpoint = config.cognitoEndpoint;
    this.clientId = config.clientId;
    this.fetch = fetchImpl || ((...a) => globalThis.fetch(...a));
  }

  /** Calls one operation; resolves to the decoded JSON body, rejects with CognitoError. */
  async call(op, body) {
    let res;
    try {
      res = await this.fetch(this.endpoint, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/x-amz-json-1.1',
          'X-Amz-Target': `AWSCognitoIdentityProviderService.${op}`,
        },
        body: JSON.stringify(body),
      });
    } catch (e) {
      throw new CognitoError('NetworkError', 'The sign-in service could not be reached.');
    }
    let data = {};
    const text = await res.text();
    if (text) {
      try { data = JSON.parse(text); } catch { data = {}; }
    }
    if (!res.ok) {
      const code = errorCode(data.__type || res.headers.get('x-amzn-errortype'));
      throw new CognitoError(code, data.message || data.Message || '', res.status);
    }
    return data;
  }

  signUp(email, password) {
    return this.call('SignUp', {
      ClientId: this.clientId, Username: email, Password: password,
      UserAttributes: [{ Name: 'email', Value: email }],
    });
  }
  confirmSignUp(email, code) {
    return this.call('ConfirmSignUp', { ClientId: this.clientId, Username: email, ConfirmationCode: code });
  }
  resendConfirmationCode(email) {
    return this.call('ResendConfirmationCode', { ClientId: this.clientId, Username: email });
  }
  initiatePasswordAuth(email, password) {
    return this.call('InitiateAuth', {
      ClientId: this.clientId, AuthFlow: 'USER_PASSWORD_AUTH',
      AuthParameters: { USERNAME: email, PASSWORD: password },
    });
  }
  refresh(refreshToken) {
    return this.call('InitiateAuth', {
      ClientId: this.clientId, AuthFlow: 'REFRESH_TOKEN_AUTH',
      AuthParameters: { REFRESH_TOKEN: refreshToken },
    });
  }
  respondSoftwareTokenMfa(session, username, code) {
    return this.call('RespondToAuthChallenge', {
      ClientId: this.clientId, ChallengeName: 'SOFTWARE_TOKEN_MFA', Session: session,
      ChallengeResponses: { USERNAME: username, SOFTWARE_TOKEN_MFA_CODE: code },
    });
  }
  forgotPassword(email) {
    return this.call('ForgotPassword', { ClientId: this.clientId, Username: email });
  }
  confirmForgotPassword(email, code, password) {
    return this.call('ConfirmForgotPassword', {
      ClientId: this.clientId, Username: email, ConfirmationCode: code, Password: password,
    });
  }
  globalSignOut(accessToken) {
    return this.call('GlobalSignOut', { AccessToken: accessToken });
  }
  revokeToken(refreshToken) {
    return this.call('RevokeToken', { ClientId: this.clientId, Token: refreshToken });
  }
  getUser(accessToken) {
    return this.call('GetUser', { AccessToken: accessToken });
  }
  associateSoftwareToken(accessToken) {
    return this.call('AssociateSoftwareToken', { AccessToken: accessToken });
  }
  verifySoftwareToken(accessToken, code, deviceName) {
    return this.call('VerifySoftwareToken', {
      AccessToken: accessToken, UserCode: code, FriendlyDeviceName: deviceName,
    });
  }
  setSoftwareTokenMfa(accessToken, enabled) {
    return this.call('SetUserMFAPreference', {
      AccessToken: accessToken,
      SoftwareTokenMfaSettings: { Enabled: enabled, PreferredMfa: enabled },
    });
  }
}
