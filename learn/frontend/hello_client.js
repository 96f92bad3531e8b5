// Exercise hello-client (learn/04-frontend.md): the browser side of GET /api/hello.
// greeting(apiBase, name) calls `${apiBase}/hello?name=<name>` with fetch and resolves to the
// API's message ("Hello, <name>!"). When the API answers 400 it rejects with an Error whose
// message is the API's message and which carries `status` (400) and `field` (the API's field),
// so that a form can show the message next to the right input.
export async function greeting(apiBase, name) {
  throw new Error(`exercise hello-client is not solved yet (asked for ${apiBase} and ${name})`);
}
