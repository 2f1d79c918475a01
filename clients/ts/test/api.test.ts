// End-to-end tests of the TS client against the real server binary (see server.ts).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { createClient, isProblemError, listRuns, ProblemError, unwrap, waitForRun, type FlyteWebhookClient } from "../src/index.js";
import { startServer, type RunningServer } from "./server.js";

const task = (name: string) => ({ path: { domain: "development", project: "examples", name } });

/** Runs fn and returns the ProblemError it throws (failing when it does not). */
async function problemOf(fn: () => Promise<unknown>): Promise<ProblemError> {
  try {
    await fn();
  } catch (e) {
    assert.ok(isProblemError(e), `want a ProblemError, got ${String(e)}`);
    return e;
  }
  assert.fail("want a ProblemError, the call succeeded");
}

describe("flyte-webhook TS client against the real server", () => {
  let server: RunningServer;
  let api: FlyteWebhookClient;

  before(async () => {
    // sum is outside the allowlist: the 403 cases.
    server = await startServer({ extraConfig: "task_allowlist: [development/examples/greet, slow]" });
    api = createClient({ baseUrl: server.baseUrl, token: server.token });
  });
  after(async () => {
    await server?.stop();
  });

  it("health and me", async () => {
    const anon = createClient({ baseUrl: server.baseUrl });
    assert.deepEqual(await unwrap(anon.GET("/health")), { status: "healthy" });
    const me = await unwrap(api.GET("/me"));
    assert.equal(me.subject, "tester");
    assert.equal(me.name, "Tester");
  });

  it("runs a task, polls it to completion and reads its I/O", async () => {
    const t = await unwrap(api.GET("/task/{domain}/{project}/{name}", { params: task("greet") }));
    assert.equal(t.name, "greet");
    assert.deepEqual(t.required_args, []);
    // The names of the inputs that have a default (as the Python app answers), not their values.
    assert.deepEqual(t.default_input_args, ["name", "times"]);
    assert.deepEqual(t.inputs, [
      { name: "name", type: "string", required: false, default: "world", description: "Who to greet." },
      { name: "times", type: "integer", required: false, default: 1 },
    ]);
    assert.deepEqual(t.outputs, [{ name: "greeting", type: "string" }]);

    const { name, url } = await unwrap(
      api.POST("/run-task/{domain}/{project}/{name}", { params: task("greet"), body: { name: "Ada", times: 2 } }),
    );
    assert.match(name, /\S/);
    assert.ok(url.includes(name), url);

    const run = await waitForRun(api, name, { intervalMs: 50, timeoutMs: 30_000 });
    assert.equal(run.phase, "succeeded");
    assert.equal(run.done, true);

    const io = await unwrap(api.GET("/run/{name}/io", { params: { path: { name } } }));
    assert.equal(io.name, name);
    assert.deepEqual(io.inputs, { name: "Ada", times: 2 });
    assert.deepEqual(io.outputs, { greeting: "Hello, Ada! Hello, Ada!" });
  });

  it("runs a task without a body: its inputs' defaults", async () => {
    const { name } = await unwrap(api.POST("/run-task/{domain}/{project}/{name}", { params: task("greet") }));
    const run = await waitForRun(api, name, { intervalMs: 50, timeoutMs: 30_000 });
    assert.equal(run.phase, "succeeded");
    const io = await unwrap(api.GET("/run/{name}/io", { params: { path: { name } } }));
    assert.deepEqual(io.outputs, { greeting: "Hello, world!" });
  });

  it("aborts a slow run; aborting it again is a 409", async () => {
    const { name } = await unwrap(api.POST("/run-task/{domain}/{project}/{name}", { params: task("slow"), body: { seconds: 60 } }));
    const abort = await unwrap(api.POST("/run/{name}/abort", { params: { path: { name }, query: { reason: "ts test" } } }));
    assert.deepEqual(abort, { name, status: "abort_requested", reason: "ts test" });

    const run = await waitForRun(api, name, { intervalMs: 50, timeoutMs: 30_000 });
    assert.equal(run.phase, "aborted");
    const io = await unwrap(api.GET("/run/{name}/io", { params: { path: { name } } }));
    assert.equal(io.outputs, null);

    const again = await problemOf(() => unwrap(api.POST("/run/{name}/abort", { params: { path: { name } } })));
    assert.equal(again.status, 409);
    assert.equal(again.title, "Conflict");
  });

  it("labels runs and lists them by label, page by page", async () => {
    const label = ["ci-job=ts-1", "step=greet"];
    const started: string[] = [];
    for (const who of ["Ada", "Bo", "Cy"]) {
      const { name } = await unwrap(
        api.POST("/run-task/{domain}/{project}/{name}", {
          params: { ...task("greet"), query: { label } },
          body: { name: who },
        }),
      );
      started.unshift(name); // newest first
    }
    const page = await unwrap(api.GET("/runs", { params: { query: { label: ["ci-job=ts-1"] } } }));
    assert.deepEqual(page.runs.map((r) => r.name), started);
    assert.equal(page.next_page_token, undefined);
    const newest = page.runs[0]!;
    assert.deepEqual(newest.labels, { "ci-job": "ts-1", step: "greet" });
    assert.equal(newest.caller, "tester");
    assert.equal(newest.kind, "task");
    assert.deepEqual(newest.task, { domain: "development", project: "examples", name: "greet", version: "v1" });

    const listed: string[] = [];
    for await (const run of listRuns(api, { label: ["ci-job=ts-1"], limit: 1 })) listed.push(run.name);
    assert.deepEqual(listed, started);

    // A list of a task outside the allowlist is a 403; bad filters are a 400 or a 422.
    const forbidden = await problemOf(() => unwrap(api.GET("/runs", { params: { query: { task: "development/examples/sum" } } })));
    assert.equal(forbidden.status, 403);
    const bad = await problemOf(async () => {
      for await (const _ of listRuns(api, { task_version: "v1" })) assert.fail("listed a run");
    });
    assert.equal(bad.status, 400);
  });

  it("a task outside the allowlist is a 403", async () => {
    const p = await problemOf(() => unwrap(api.POST("/run-task/{domain}/{project}/{name}", { params: task("sum"), body: { a: 1, b: 2 } })));
    assert.equal(p.status, 403);
    assert.equal(p.title, "Forbidden");
    assert.match(p.detail, /sum/);
    assert.match(p.request_id ?? "", /\S/);
    assert.equal(p.response.headers.get("content-type"), "application/problem+json");
    const get = await problemOf(() => unwrap(api.GET("/task/{domain}/{project}/{name}", { params: task("sum") })));
    assert.equal(get.status, 403);
  });

  it("a request of the wrong shape is a 422 listing what was wrong", async () => {
    // The body must be an object; the types refuse an array, so force it through.
    const body = [1, 2] as unknown as Record<string, never>;
    const p = await problemOf(() => unwrap(api.POST("/run-task/{domain}/{project}/{name}", { params: task("greet"), body })));
    assert.equal(p.status, 422);
    assert.ok(p.errors.length > 0, JSON.stringify(p.problem));
    assert.equal(p.errors[0]?.in, "body");

    const q = await problemOf(() =>
      unwrap(api.GET("/task/{domain}/{project}/{name}", { params: { ...task("greet"), query: { version: "" } } })),
    );
    assert.equal(q.status, 422);
    assert.deepEqual(
      q.errors.map((e) => [e.in, e.name]),
      [["query", "version"]],
    );
  });

  it("inputs that don't fit the task are a 400 naming the input", async () => {
    const p = await problemOf(() => unwrap(api.POST("/run-task/{domain}/{project}/{name}", { params: task("greet"), body: { nope: 1 } })));
    assert.equal(p.status, 400);
    assert.match(p.detail, /"nope"/);
  });

  it("an unknown task or run is a 404", async () => {
    // (A task outside the allowlist is a 403 whether it exists or not: greet is inside.)
    const t = await problemOf(() =>
      unwrap(api.GET("/task/{domain}/{project}/{name}", { params: { ...task("greet"), query: { version: "v999" } } })),
    );
    assert.equal(t.status, 404);
    assert.match(t.detail, /v999/);
    const r = await problemOf(() => unwrap(api.GET("/run/{name}/io", { params: { path: { name: "r-unknown" } } })));
    assert.equal(r.status, 404);
  });

  it("switches the example trigger on and off; an unknown trigger is a 404", async () => {
    const trigger = { params: { path: { task_name: "greet", trigger_name: "every-minute" } } };
    for (let i = 0; i < 2; i++) {
      // Switching to the state it has is not an error.
      assert.deepEqual(await unwrap(api.POST("/trigger/{task_name}/{trigger_name}/activate", trigger)), {
        task_name: "greet",
        trigger_name: "every-minute",
        active: true,
      });
    }
    for (let i = 0; i < 2; i++) {
      assert.deepEqual(await unwrap(api.POST("/trigger/{task_name}/{trigger_name}/deactivate", trigger)), {
        task_name: "greet",
        trigger_name: "every-minute",
        active: false,
      });
    }
    const p = await problemOf(() =>
      unwrap(api.POST("/trigger/{task_name}/{trigger_name}/activate", { params: { path: { task_name: "greet", trigger_name: "hourly" } } })),
    );
    assert.equal(p.status, 404);
    assert.match(p.detail, /hourly/);
  });

  it("activates the example app, calls it and deactivates it", async () => {
    const app = { path: { name: "hello" } };
    const active = await unwrap(api.POST("/app/{name}/activate", { params: { ...app, query: { wait: true } } }));
    assert.equal(active.is_active, true);
    assert.match(active.endpoint ?? "", /^http:\/\/127\.0\.0\.1:\d+$/);
    const got = await unwrap(api.GET("/app/{name}", { params: app }));
    assert.equal(got.status, "running");
    assert.equal(got.revision, 1);

    const call = { ...app, query: { path: "/greet" } };
    assert.deepEqual(await unwrap(api.POST("/app/{name}/call", { params: call, body: { query_params: { name: "Ada" } } })), {
      greeting: "Hello, Ada!",
    });
    // A lower-case method, as the Python app takes it; the payload is the JSON body.
    const post = { ...app, query: { path: "greet", method: "post" } };
    assert.deepEqual(await unwrap(api.POST("/app/{name}/call", { params: post, body: { payload: { name: "Grace" } } })), {
      greeting: "Hello, Grace!",
    });
    // The app's own error status comes back as a problem carrying its text.
    const missing = await problemOf(() => unwrap(api.POST("/app/{name}/call", { params: { ...app, query: { path: "/nope" } } })));
    assert.equal(missing.status, 404);
    assert.match(missing.detail, /^Target app returned error: .*no route for \/nope/);
    const trick = await problemOf(() => unwrap(api.POST("/app/{name}/call", { params: { ...app, query: { path: "/../admin" } } })));
    assert.equal(trick.status, 400);

    const stopped = await unwrap(api.POST("/app/{name}/deactivate", { params: { ...app, query: { wait: true } } }));
    assert.deepEqual([stopped.is_active, stopped.is_deactivated], [false, true]);
    await assert.rejects(fetch(active.endpoint ?? ""), "the app still answers after deactivate with wait");
    const inactive = await problemOf(() => unwrap(api.POST("/app/{name}/call", { params: call })));
    assert.equal(inactive.status, 409);
  });

  it("the raw openapi-fetch result carries the typed problem; no credentials is a 401", async () => {
    const { data, error, response } = await api.GET("/run/{name}", { params: { path: { name: "r-unknown" } } });
    assert.equal(data, undefined);
    assert.equal(response.status, 404);
    assert.equal(error?.status, 404);
    assert.match(error?.detail ?? "", /r-unknown/);

    const anon = createClient({ baseUrl: server.baseUrl });
    const p = await problemOf(() => unwrap(anon.GET("/me")));
    assert.equal(p.status, 401);
    assert.match(p.response.headers.get("www-authenticate") ?? "", /^Bearer/);
  });
});

describe("ProblemError", () => {
  it("synthesizes a problem from a body that is not problem+json", () => {
    const p = ProblemError.fromResponse(new Response(null, { status: 404, statusText: "Not Found" }), "404 page not found");
    assert.equal(p.status, 404);
    assert.equal(p.title, "Not Found");
    assert.equal(p.type, "about:blank");
    assert.equal(p.detail, "404 page not found");
    assert.deepEqual(p.errors, []);
    assert.match(p.message, /^404 Not Found: 404 page not found$/);
  });
});

// Compile-time checks: these lines must not type-check (tsc fails the build if they do).
export function typeChecks(api: FlyteWebhookClient): void {
  // @ts-expect-error a missing path parameter
  void api.GET("/task/{domain}/{project}/{name}", { params: { path: { domain: "d", project: "p" } } });
  // @ts-expect-error an unknown path
  void api.GET("/no-such-path");
  // @ts-expect-error abort is a POST
  void api.GET("/run/{name}/abort", { params: { path: { name: "r" } } });
  // @ts-expect-error reason is a string
  void api.POST("/run/{name}/abort", { params: { path: { name: "r" }, query: { reason: 3 } } });
}
