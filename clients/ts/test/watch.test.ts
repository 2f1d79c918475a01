// watchRun and followRunLogs against the real server binary (see server.ts).
import assert from "node:assert/strict";
import { createServer, connect, type Server, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";

import {
  createClient,
  followRunLogs,
  isProblemError,
  readEvents,
  unwrap,
  watchRun,
  type FlyteWebhookClient,
  type RunEvent,
} from "../src/index.js";
import { startServer, type RunningServer } from "./server.js";

const task = (name: string) => ({ path: { domain: "development", project: "examples", name } });

async function collect(it: AsyncIterable<RunEvent>): Promise<RunEvent[]> {
  const out: RunEvent[] = [];
  for await (const ev of it) out.push(ev);
  return out;
}

const describeEvents = (evs: RunEvent[]) =>
  evs.map((e) => `${e.id} ${e.type}${e.phase ? " " + e.phase : ""}${e.line !== undefined ? " " + e.line : ""}`).join(", ");

/** Fails unless every event has an id after the one before (attempt.stage.seq) and the last is the end. */
function checkOrdered(evs: RunEvent[]) {
  assert.equal(evs.at(-1)?.type, "end", describeEvents(evs));
  let prev: number[] | undefined;
  for (const ev of evs) {
    assert.match(ev.id ?? "", /^\d+\.\d+\.\d+$/, describeEvents(evs));
    const pos = ev.id!.split(".").map(Number);
    if (prev) {
      const after = pos[0]! - prev[0]! || pos[1]! - prev[1]! || pos[2]! - prev[2]!;
      assert.ok(after > 0, `${ev.id} is not after ${prev.join(".")}: ${describeEvents(evs)}`);
    }
    prev = pos;
  }
}

/** A TCP proxy in front of the server whose connections can be cut, as a network drop would. */
function startProxy(target: URL): Promise<{ url: string; cut(): void; close(): void }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((down) => {
    const up = connect(Number(target.port), target.hostname);
    for (const s of [down, up]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => {});
    }
    down.pipe(up).pipe(down);
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const addr = server.address();
      if (addr === null || typeof addr === "string") throw new Error("no proxy address");
      resolve({
        url: `http://127.0.0.1:${addr.port}`,
        cut: () => sockets.forEach((s) => s.destroy()),
        close: () => {
          sockets.forEach((s) => s.destroy());
          server.close();
        },
      });
    });
  });
}

describe("event streams against the real server", () => {
  let server: RunningServer;
  let api: FlyteWebhookClient;

  before(async () => {
    server = await startServer();
    api = createClient({ baseUrl: server.baseUrl, token: server.token });
  });
  after(async () => {
    await server?.stop();
  });

  const run = async (name: string, body: Record<string, unknown>) =>
    (await unwrap(api.POST("/run-task/{domain}/{project}/{name}", { params: task(name), body }))).name;

  it("watchRun yields a run's events to the end, and resumes after an id", async () => {
    const name = await run("greet", { name: "Ada" });
    const evs = await collect(watchRun(api, name, { logs: true }));
    checkOrdered(evs);
    const end = evs.at(-1)!;
    assert.equal(end.phase, "succeeded");
    assert.deepEqual(end.outputs, { greeting: "Hello, Ada!" });
    assert.ok(evs.some((e) => e.type === "log" && e.line === "Hello, Ada!"), describeEvents(evs));
    assert.ok(evs.some((e) => e.type === "phase" && e.phase === "running"), describeEvents(evs));
    for (const ev of evs) assert.equal(ev.run, name);

    for (let i = 0; i < evs.length; i++) {
      const rest = await collect(watchRun(api, name, { logs: true, lastEventId: evs[i]!.id }));
      assert.equal(describeEvents(rest), describeEvents(evs.slice(i + 1)), `after ${evs[i]!.id}`);
    }
  });

  it("watchRun throws the problem for an unknown run or a bad Last-Event-ID", async () => {
    for (const [opts, status] of [
      [{}, 404],
      [{ lastEventId: "x" }, 422],
    ] as const) {
      await assert.rejects(collect(watchRun(api, "r-nosuchrun", opts)), (e: unknown) => {
        assert.ok(isProblemError(e), String(e));
        assert.equal(e.status, status);
        return true;
      });
    }
  });

  it("watchRun stops when its signal aborts, with the signal's reason", async () => {
    const name = await run("slow", { seconds: 120 });
    const ac = new AbortController();
    const seen: RunEvent[] = [];
    try {
      await assert.rejects(
        (async () => {
          for await (const ev of watchRun(api, name, { signal: ac.signal })) {
            seen.push(ev);
            if (ev.type === "phase" && ev.phase === "running") ac.abort(new Error("enough"));
          }
        })(),
        /enough/,
      );
      assert.equal(seen.at(-1)?.phase, "running", describeEvents(seen));
    } finally {
      await unwrap(api.POST("/run/{name}/abort", { params: { path: { name }, query: {} } }));
    }
  });

  it("watchRun resumes with Last-Event-ID after the connection drops, nothing repeated or lost", async () => {
    const proxy = await startProxy(new URL(server.baseUrl));
    try {
      const viaProxy = createClient({ baseUrl: proxy.url, token: server.token });
      const name = await run("slow", { seconds: 2 });
      const got: RunEvent[] = [];
      let cut = false;
      for await (const ev of watchRun(viaProxy, name, { logs: true, backoffMs: 20 })) {
        got.push(ev);
        if (!cut && ev.type === "log") {
          cut = true;
          proxy.cut(); // in the middle of the attempt: the rest comes on a new connection
        }
      }
      assert.ok(cut, `the run ended before a log line: ${describeEvents(got)}`);
      checkOrdered(got);
      const all = await collect(watchRun(api, name, { logs: true }));
      assert.equal(describeEvents(got), describeEvents(all));
    } finally {
      proxy.close();
    }
  });

  it("watchRun resumes across a restart of the server: a reconnect event, then Last-Event-ID", async () => {
    // Every stream's bytes as read, to see the reconnect event the iterator keeps to itself.
    let seen = "";
    const recording = createClient({
      baseUrl: server.baseUrl,
      token: server.token,
      fetch: async (req: Request) => {
        const res = await fetch(req);
        if (!res.body || !res.headers.get("content-type")?.startsWith("text/event-stream")) return res;
        const [mine, theirs] = res.body.tee();
        void (async () => {
          const decoder = new TextDecoder();
          const reader = theirs.getReader();
          try {
            for (let r = await reader.read(); !r.done; r = await reader.read()) seen += decoder.decode(r.value, { stream: true });
          } catch {
            // the connection went away
          }
        })();
        return new Response(mine, { status: res.status, statusText: res.statusText, headers: res.headers });
      },
    });
    const name = await run("slow", { seconds: 2 });
    const got: RunEvent[] = [];
    let restart: Promise<void> | undefined;
    for await (const ev of watchRun(recording, name, { logs: true, backoffMs: 50 })) {
      got.push(ev);
      // In the middle of the attempt: SIGTERM (the server drains the attempt meanwhile, its
      // listener closed), then the same binary again on the same data dir and port.
      if (!restart && ev.type === "log") restart = server.restart();
    }
    assert.ok(restart, `the run ended before a log line: ${describeEvents(got)}`);
    await restart;
    checkOrdered(got);
    assert.match(seen, /event: reconnect\n/, "the first stream did not end with a reconnect event");
    const all = await collect(watchRun(api, name, { logs: true }));
    assert.equal(describeEvents(got), describeEvents(all));
  });

  it("watchRun replaces a connection silent for longer than idleTimeoutMs, after the last id", async () => {
    let connections = 0;
    const counting = createClient({
      baseUrl: server.baseUrl,
      token: server.token,
      fetch: (req: Request) => {
        if (new URL(req.url).pathname.endsWith("/events")) connections++;
        return fetch(req);
      },
    });
    const name = await run("slow", { seconds: 1 }); // a second without an event; heartbeats come every 15 s
    const evs = await collect(watchRun(counting, name, { idleTimeoutMs: 200, retries: 100, backoffMs: 1, maxBackoffMs: 10 }));
    checkOrdered(evs);
    assert.ok(connections >= 2, `${connections} connection(s): the idle timeout never replaced one`);
    assert.equal(describeEvents(evs), describeEvents(await collect(watchRun(api, name))));
  });

  it("watchRun ends at once after the end (204)", async () => {
    const name = await run("noop", {});
    const evs = await collect(watchRun(api, name));
    checkOrdered(evs);
    assert.deepEqual(await collect(watchRun(api, name, { lastEventId: evs.at(-1)!.id })), []);
  });

  it("followRunLogs follows the log; get_run_logs answers the lines as text", async () => {
    const name = await run("greet", { name: "Bo", times: 2 });
    const evs = await collect(followRunLogs(api, name));
    assert.equal(evs.at(-1)?.type, "end", describeEvents(evs));
    assert.ok(!evs.some((e) => e.type === "phase"), describeEvents(evs));
    assert.deepEqual(
      evs.filter((e) => e.type === "log").map((e) => e.line),
      ["Hello, Bo! Hello, Bo!"],
    );
    const text = await unwrap(api.GET("/run/{name}/logs", { params: { path: { name } }, parseAs: "text" }));
    assert.equal(text, "Hello, Bo! Hello, Bo!\n");
  });
});

describe("readEvents", () => {
  const stream = (chunks: string[]) =>
    new ReadableStream<Uint8Array>({
      start(c) {
        for (const ch of chunks) c.enqueue(new TextEncoder().encode(ch));
        c.close();
      },
    });
  const read = async (chunks: string[]) => {
    const out = [];
    for await (const ev of readEvents(stream(chunks))) out.push(ev);
    return out;
  };

  it("follows the standard's parsing rules", async () => {
    assert.deepEqual(await read([": heartbeat\n\nretry: 2000\n\nid: 1.1.0\nevent: phase\ndata: {}\n\n"]), [
      { id: "1.1.0", hasId: true, event: "phase", data: "{}" },
    ]);
    assert.deepEqual(await read(["data: a\ndata:b\n\n"]), [{ id: undefined, hasId: false, event: "", data: "a\nb" }]);
    // CRLF split across chunks, a bare CR, and the id carried over.
    assert.deepEqual(await read(["id: 7\r", "\ndata: x\r\n\r", "\ndata: y\r\r"]), [
      { id: "7", hasId: true, event: "", data: "x" },
      { id: "7", hasId: false, event: "", data: "y" },
    ]);
    // An unfinished last event is dropped.
    assert.deepEqual(await read(["data: a\n\ndata: b\n"]), [{ id: undefined, hasId: false, event: "", data: "a" }]);
  });
});
