// errors.js - turns Cognito exception names and API error bodies into plain-language messages,
// each tied to the form field it concerns (null = a form-level message).

const COGNITO = {
  UsernameExistsException: ['email', 'An account with this email already exists. Log in instead, or reset your password.'],
  UserNotFoundException: ['email', 'We could not find an account with this email.'],
  NotAuthorizedException: ['password', 'Incorrect email or password.'],
  InvalidPasswordException: ['password', 'This password does not meet the requirements below.'],
  CodeMismatchException: ['code', 'That code is not right. Check the latest message we sent and try again.'],
  ExpiredCodeException: ['code', 'That code has expired. Ask for a new one.'],
  LimitExceededException: [null, 'Too many attempts. Wait a few minutes and try again.'],
  TooManyRequestsException: [null, 'Too many attempts. Wait a few minutes and try again.'],
  TooManyFailedAttemptsException: [null, 'Too many failed attempts. Wait a few minutes and try again.'],
  UserNotConfirmedException: ['email', 'This account is not confirmed yet. Enter the code we emailed you.'],
  PasswordResetRequiredException: ['password', 'You need to reset your password before logging in.'],
  InvalidParameterException: [null, 'Some of the details are not valid. Check them and try again.'],
  CodeDeliveryFailureException: [null, 'We could not send the code. Try again in a moment.'],
  EnableSoftwareTokenMFAException: ['code', 'That code is not right. Enter the current 6-digit code from your app.'],
  SoftwareTokenMFANotFoundException: [null, 'Set up an authenticator app first.'],
  NetworkError: [null, 'The sign-in service could not be reached. Check your connection and try again.'],
};

/**
 * @param {{code: string, message?: string}} err a CognitoError
 * @param {string} [context] the action: 'login' | 'signup' | 'confirm' | 'forgot' | 'reset' | 'mfa'
 * @returns {{field: string|null, message: string}}
 */
export function cognitoMessage(err, context = '') {
  const code = err && err.code;
  // cognito-local answers a wrong password with InvalidPasswordException; on a login form it
  // means the same as NotAuthorizedException.
  if (context === 'login' && (code === 'InvalidPasswordException' || code === 'UserNotFoundException')) {
    return { field: 'password', message: COGNITO.NotAuthorizedException[1] };
  }
  if (code === 'NotAuthorizedException' && context === 'refresh') {
    return { field: null, message: 'Your session has expired. Please log in again.' };
  }
  if (code === 'NotAuthorizedException' && /disabled/i.test(err.message || '')) {
    return { field: null, message: 'This account is disabled. Contact support.' };
  }
  if (code === 'NotAuthorizedException' && (context === 'confirm' || context === 'forgot' || context === 'reset')) {
    return { field: null, message: 'This account cannot do that right now. Try logging in.' };
  }
  if (code === 'InvalidPasswordException' && err.message && err.message !== 'Invalid password') {
    return { field: 'password', message: `This password is not accepted: ${err.message.replace(/^Password did not conform with policy: /, '')}` };
  }
  if (code === 'UserNotFoundException' && context === 'forgot') {
    return { field: 'email', message: COGNITO.UserNotFoundException[1] };
  }
  if (code === 'CodeMismatchException' && context === 'mfa') {
    return { field: 'code', message: 'That code is not right. Enter the current 6-digit code from your authenticator app.' };
  }
  const known = COGNITO[code];
  if (known) return { field: known[0], message: known[1] };
  if (/^CognitoLocal#|Unsupported/.test(code || '')) {
    return { field: null, message: 'The local sign-in service does not support this action.' };
  }
  return { field: null, message: 'Something went wrong. Please try again.' };
}

/**
 * @param {{status: number, code: string, message: string, field?: string}} err an ApiError
 * @returns {string} a sentence a person can act on
 */
export function apiMessage(err) {
  if (!err) return 'Something went wrong.';
  switch (err.code) {
    case 'network': return 'The server could not be reached. Check your connection and try again.';
    case 'unauthorized': return 'Your session has expired. Please log in again.';
    case 'conflict': return 'Someone changed this in the meantime. Reload to see the latest version, then try again.';
    case 'too_many_requests': return 'Too many requests. Wait a moment and try again.';
    case 'not_found': return 'This no longer exists.';
    case 'unavailable': return 'The service is temporarily unavailable. Try again in a moment.';
    case 'internal': return `The server had a problem${err.requestId ? ` (request ${err.requestId})` : ''}. Try again.`;
    default: return err.message || `The request failed (HTTP ${err.status}).`;
  }
}
