// Event streams (watch_run, get_run_logs with follow=true) as async iterators: Server-Sent
// Events read with fetch (no EventSource: it cannot send the Authorization header), resumed
// with Last-Event-ID after a dropped connection or a `reconnect` event.
import type { components } from "./schema.js";
import type { FlyteWebhookClient } from "./index.js";
import { ProblemError } from "./problem.js";

/** One event of a run's stream (the `data:` line of an SSE event). */
export type RunEvent = components["schemas"]["RunEvent"];

/** How a stream is kept going; every field is optional. */
export interface StreamOptions {
  /** Ends the stream: the iterator then rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Start after this event id (an `id` kept from an earlier event); the run's beginning otherwise. */
  lastEventId?: string;
  /**
   * Reconnections in a row that bring no event of the run (a failed connection, a 503, a
   * stream cut before its end). Defaults to 8; 0 makes the first failure the error.
   */
  retries?: number;
  /** Wait before the first reconnection in a row, doubled each time. Defaults to 250 ms. */
  backoffMs?: number;
  /** Cap of the wait between reconnections (and of a 503's Retry-After). Defaults to 10 s. */
  maxBackoffMs?: number;
  /**
   * How long a connection may stay silent (no event, no heartbeat) before it counts as
   * dropped and is replaced. The server sends a heartbeat after 15 s of silence by default.
   * Defaults to 60 s.
   */
  idleTimeoutMs?: number;
}

/** Options of {@link watchRun}. */
export interface WatchRunOptions extends StreamOptions {
  /** Also send the run's log lines, one `log` event each. */
  logs?: boolean;
  project?: string;
  domain?: string;
}

/** Options of {@link followRunLogs}. */
export interface FollowRunLogsOptions extends StreamOptions {
  /** Which output to follow. Defaults to both. */
  stream?: "both" | "stdout" | "stderr";
  /** The attempt whose tail comes first (from 1); the latest when absent. */
  attempt?: number;
  /** How many of the last lines come first. Defaults to the server's 1000. */
  tail?: number;
  project?: string;
  domain?: string;
}

/**
 * watchRun yields the run's events as watch_run streams them: each phase change, attempt
 * start and end, log line (with `logs: true`), and last the `end` event, after which it
 * returns.
 *
 * ```ts
 * for await (const ev of watchRun(api, name, { signal })) {
 *   if (ev.type === "phase") console.log(ev.phase);
 *   if (ev.type === "end") console.log("ended", ev.phase, ev.outputs);
 * }
 * ```
 *
 * A connection that drops, a `reconnect` event (the server is shutting down) and a 503 (too
 * many streams) are followed by a reconnection with the last event's id as Last-Event-ID, so
 * the events continue where they stopped, nothing repeated or lost (within `retries`).
 * Heartbeats are skipped and `reconnect` events are never yielded. A 204 (the run ended and
 * `lastEventId` was its last event) returns at once. It throws a {@link ProblemError} for an
 * answer that is not 2xx, the signal's reason when `signal` aborts, and the last failure once
 * the retries are spent. Leaving the loop early closes the stream.
 */
export function watchRun(api: FlyteWebhookClient, name: string, options: WatchRunOptions = {}): AsyncGenerator<RunEvent, void, undefined> {
  const { logs, project, domain } = options;
  return stream(`watch_run ${name}`, options, (signal, last) =>
    api.GET("/run/{name}/events", {
      params: { path: { name }, query: { logs, project, domain }, header: last ? { "Last-Event-ID": last } : undefined },
      parseAs: "stream",
      signal,
    }),
  );
}

/**
 * followRunLogs yields get_run_logs' stream with `follow=true`: the tail of the log as `log`
 * events, then each line as it is written, with `attempt_started` and `attempt_ended` between
 * attempts, until the `end` event. It keeps the stream going as {@link watchRun} does. The
 * text answer (without follow) is `api.GET("/run/{name}/logs", { parseAs: "text", ... })`.
 */
export function followRunLogs(
  api: FlyteWebhookClient,
  name: string,
  options: FollowRunLogsOptions = {},
): AsyncGenerator<RunEvent, void, undefined> {
  const { stream: which, attempt, tail, project, domain } = options;
  return stream(`get_run_logs ${name}`, options, (signal, last) =>
    api.GET("/run/{name}/logs", {
      params: {
        path: { name },
        query: { follow: true, stream: which, attempt, tail, project, domain },
        header: last ? { "Last-Event-ID": last } : undefined,
      },
      parseAs: "stream",
      signal,
    }),
  );
}

type Opened = { data?: ReadableStream<Uint8Array> | null; error?: unknown; response: Response };

/** A failure a reconnection may cure; afterMs is a Retry-After the server asked for. */
class Retry extends Error {
  constructor(message: string, readonly afterMs = 0, options?: ErrorOptions) {
    super(message, options);
  }
}

async function* stream(
  what: string,
  options: StreamOptions,
  open: (signal: AbortSignal, last: string | undefined) => Promise<Opened>,
): AsyncGenerator<RunEvent, void, undefined> {
  const retries = options.retries ?? 8;
  const backoff = options.backoffMs ?? 250;
  const maxBackoff = options.maxBackoffMs ?? 10_000;
  const idleMs = options.idleTimeoutMs ?? 60_000;
  const user = options.signal;
  let last = options.lastEventId;
  let failures = 0;
  for (;;) {
    user?.throwIfAborted();
    let progressed = false;
    let failure: Retry;
    const conn = new AbortController();
    const signal = user ? AbortSignal.any([user, conn.signal]) : conn.signal;
    let idle = setTimeout(() => conn.abort(new Retry(`no event or heartbeat within ${idleMs} ms`)), idleMs);
    const touch = () => {
      clearTimeout(idle);
      idle = setTimeout(() => conn.abort(new Retry(`no event or heartbeat within ${idleMs} ms`)), idleMs);
    };
    try {
      let opened: Opened;
      try {
        opened = await open(signal, last);
      } catch (e) {
        throw user?.aborted ? user.reason : conn.signal.aborted ? conn.signal.reason : new Retry(`${what}: ${String(e)}`, 0, { cause: e });
      }
      const { response, error, data } = opened;
      if (response.status === 204) return;
      if (response.status === 503) {
        const after = Number(response.headers.get("retry-after"));
        throw new Retry(ProblemError.fromResponse(response, error).message, Number.isFinite(after) ? after * 1000 : 0);
      }
      if (!response.ok) throw ProblemError.fromResponse(response, error);
      const type = response.headers.get("content-type") ?? "";
      if (!type.startsWith("text/event-stream") || !data) {
        await data?.cancel();
        throw new Error(`${what}: unexpected ${JSON.stringify(type)} answer, want text/event-stream`);
      }
      try {
        for await (const ev of readEvents(data, last, touch)) {
          last = ev.id;
          const event = JSON.parse(ev.data) as RunEvent;
          if (event.type === "reconnect") throw new Retry(`${what}: the server asked to reconnect: ${event.detail ?? ""}`);
          if (event.id === undefined && ev.hasId) event.id = ev.id;
          progressed = true;
          yield event;
          if (event.type === "end") return;
        }
      } catch (e) {
        if (user?.aborted) throw user.reason;
        if (conn.signal.aborted) throw conn.signal.reason;
        if (e instanceof Retry || e instanceof SyntaxError) throw e;
        throw new Retry(`${what}: ${String(e)}`, 0, { cause: e });
      }
      throw new Retry(`${what}: the stream ended before the run's end event`);
    } catch (e) {
      if (!(e instanceof Retry)) throw e;
      failure = e;
    } finally {
      clearTimeout(idle);
      conn.abort(); // closes the body when the caller left the loop early
    }
    if (progressed) failures = 0;
    if (failures >= retries) throw new Error(`${what}: gave up after ${failures} reconnections: ${failure.message}`, { cause: failure });
    let wait = failure.afterMs;
    if (wait === 0 && !progressed) wait = backoff * 2 ** Math.min(failures, 20);
    failures++;
    if (wait > 0) await sleep(Math.min(wait, maxBackoff), user);
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** One Server-Sent Event: the last event id after it, whether it had one itself, its type and data. */
export interface SSEEvent {
  id: string | undefined;
  hasId: boolean;
  event: string;
  data: string;
}

/** The bound of one event's text; a run's outputs are far below it. */
const maxEventChars = 8 << 20;

/**
 * readEvents parses a text/event-stream by the HTML standard's rules: lines end with LF, CRLF
 * or CR; comment lines (heartbeats) and unknown fields are skipped; data lines join with LF;
 * a blank line dispatches an event that has data; the id carries over. touch is called for
 * each chunk read.
 */
export async function* readEvents(
  body: ReadableStream<Uint8Array>,
  lastId?: string,
  touch: () => void = () => {},
): AsyncGenerator<SSEEvent, void, undefined> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  let data: string[] = [];
  let event = "";
  let hasId = false;
  let size = 0;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      touch();
      buf += done ? decoder.decode() : decoder.decode(value, { stream: true });
      for (;;) {
        const m = /\r\n|\r|\n/.exec(buf);
        if (!m) break;
        if (m[0] === "\r" && m.index === buf.length - 1 && !done) break; // may be a CRLF split in two
        const line = buf.slice(0, m.index);
        buf = buf.slice(m.index + m[0].length);
        size += line.length;
        if (size > maxEventChars) throw new Error(`an event longer than ${maxEventChars} characters`);
        if (line === "") {
          if (data.length > 0) yield { id: lastId, hasId, event, data: data.join("\n") };
          data = [];
          event = "";
          hasId = false;
          size = 0;
          continue;
        }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "data") data.push(value);
        else if (field === "event") event = value;
        else if (field === "id" && !value.includes("\0")) {
          lastId = value;
          hasId = true;
        }
      }
      if (buf.length > maxEventChars) throw new Error(`an event longer than ${maxEventChars} characters`);
      if (done) return; // an event not ended by a blank line is dropped
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}
