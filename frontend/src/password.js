// password.js - the user pool's password policy (docs: notes/contracts.md; same in the SAM
// template and the local seed), checked as the user types.

export const PASSWORD_RULES = [
  { id: 'length', text: 'At least 10 characters', test: (p) => p.length >= 10 },
  { id: 'upper', text: 'An uppercase letter (A-Z)', test: (p) => /[A-Z]/.test(p) },
  { id: 'lower', text: 'A lowercase letter (a-z)', test: (p) => /[a-z]/.test(p) },
  { id: 'number', text: 'A number (0-9)', test: (p) => /[0-9]/.test(p) },
];

/** @returns {{ok: boolean, results: {id, text, met: boolean}[]}} */
export function checkPassword(p) {
  const results = PASSWORD_RULES.map((r) => ({ id: r.id, text: r.text, met: r.test(p || '') }));
  return { ok: results.every((r) => r.met), results };
}

/** A sentence naming what is still missing, or '' when the password is acceptable. */
export function passwordProblem(p) {
  const missing = checkPassword(p).results.filter((r) => !r.met).map((r) => r.text[0].toLowerCase() + r.text.slice(1));
  if (!missing.length) return '';
  return `Your password needs ${missing.join(', ')}.`;
}
