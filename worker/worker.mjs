// scorelet's scoring function as an ES-module worker (Cloudflare Workers, workerd): the same HTTP
// API as the Spin component and `scorelet serve` (MLflow /invocations, Open Inference Protocol
// v2, health routes), answered by the core compiled to wasm32-unknown-unknown.
//
// The model is the bundle in `bundle.mjs` when one is embedded (`node worker/assemble.mjs
// --bundle DIR`), else `env.SCORELET_MODEL` (NAME@VERSION or NAME@ALIAS) fetched from
// `env.SCORELET_REGISTRY_URL` on the first request and checked file by file against its manifest.
import wasm from "./pkg/scorelet_web_bg.wasm";
import { initSync, handleRequest, __wbg_reset_state } from "./pkg/scorelet_web.js";
import files from "./bundle.mjs";

// Workers forbid compiling Wasm at run time; the module arrives compiled, and instantiating it
// in the global scope counts against the startup limit, not the first request.
initSync({ module: wasm });

// Largest request body read; the core's limit (8 MiB). Reading stops past it and the answer is
// 413, so a huge or endless body is never buffered whole.
const MAX_BODY = 8 << 20;

/** The body as bytes, or null once it passes MAX_BODY. */
async function readBody(request) {
  if (!request.body) return new Uint8Array(0);
  if (Number(request.headers.get("content-length") ?? 0) > MAX_BODY) return null;
  const chunks = [];
  let size = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > MAX_BODY) {
      await reader.cancel();
      return null;
    }
    chunks.push(value);
  }
  const body = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    body.set(c, at);
    at += c.length;
  }
  return body;
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const body = await readBody(request);
    let answer;
    try {
      answer = await handleRequest(
        {
          method: request.method,
          path: url.pathname + url.search,
          contentType: request.headers.get("content-type"),
          authorization: request.headers.get("authorization"),
          apiKey: request.headers.get("x-api-key"),
          requestId: request.headers.get("cf-ray") ?? request.headers.get("x-request-id") ?? crypto.randomUUID(),
          headers: Object.fromEntries(request.headers),
          body: body ?? new Uint8Array(0),
          tooLarge: body === null,
        },
        env,
        files,
      );
    } catch (e) {
      // A panic inside the package (a bug): its memory is not to be trusted, so the next
      // request gets a fresh instance of the module (it loads the model again). This one gets
      // the server's JSON error.
      console.error(`${e?.message ?? e}`);
      __wbg_reset_state();
      const error = { code: "component_failed", message: "the scoring module failed on this request; the next request gets a fresh instance" };
      return Response.json({ error }, { status: 500 });
    }
    // The request's metrics (and, every minute, the live drift; with SCORELET_REQUEST_LOG, its
    // request-log line) as structured log lines: a worker has no scrape endpoint of its own
    // that sees every isolate.
    for (const line of answer.log) console.log(line);
    return new Response(answer.body, { status: answer.status, headers: answer.headers });
  },
};
