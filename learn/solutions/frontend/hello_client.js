// Reference solution of hello-client (learn/04-frontend.md), in the shape of frontend/src/api.js:
// the name is percent-encoded (a name with "&" or "#" would otherwise cut the query string),
// and an error body becomes an Error the form can place next to its field.
export async function greeting(apiBase, name) {
  const res = await fetch(`${apiBase}/hello?name=${encodeURIComponent(name)}`, {
    headers: { accept: 'application/json' },
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) {
    const err = new Error(body.message || `HTTP ${res.status}`);
    err.status = res.status;
    err.field = body.field ?? null;
    throw err;
  }
  return body.message;
}
