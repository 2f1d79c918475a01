/**
 * @flyte-webhook/client: a typed client of the flyte-webhook REST API.
 *
 * Types are generated from the repository's openapi.yaml by openapi-typescript (src/schema.ts,
 * regenerate with `npm run generate`); requests go through openapi-fetch.
 *
 * Errors: the raw client ({@link createClient}) answers `{ data, error, response }` like any
 * openapi-fetch client, with `error` typed as the problem+json body. {@link unwrap} turns that
 * into the data or a thrown {@link ProblemError}; the helpers ({@link waitForRun}) throw too.
 */
import createFetchClient, { type Client, type ClientOptions } from "openapi-fetch";
import type { paths, components } from "./schema.js";
import { ProblemError } from "./problem.js";

export type { paths, components, operations } from "./schema.js";
export { ProblemError, isProblemError, type Problem, type ProblemErrorItem } from "./problem.js";

/** The client type: openapi-fetch's, over this API's paths. */
export type FlyteWebhookClient = Client<paths>;
/** A run, as get_run answers it. */
export type Run = components["schemas"]["RunResponse"];
/** A run's phase. */
export type Phase = components["schemas"]["Phase"];

/** Options of {@link createClient}. */
export interface CreateClientOptions extends Omit<ClientOptions, "baseUrl"> {
  /** The webhook's base URL, e.g. "http://127.0.0.1:8080" (a path prefix is kept). */
  baseUrl: string;
  /**
   * An API token, sent as `Authorization: Bearer <token>` on every request. Omit it for
   * health, or to authenticate with a cookie set in `headers`.
   */
  token?: string;
}

/**
 * createClient returns an openapi-fetch client for the webhook. Calls are typed from the spec:
 *
 * ```ts
 * const api = createClient({ baseUrl: "http://127.0.0.1:8080", token });
 * const { name } = await unwrap(api.POST("/run-task/{domain}/{project}/{name}", {
 *   params: { path: { domain: "development", project: "examples", name: "greet" } },
 *   body: { name: "Ada" },
 * }));
 * ```
 */
export function createClient(options: CreateClientOptions): FlyteWebhookClient {
  const { token, headers, ...rest } = options;
  const h = new Headers(headers as HeadersInit | undefined);
  if (token) h.set("Authorization", `Bearer ${token}`);
  return createFetchClient<paths>({ ...rest, headers: h });
}

/** What an openapi-fetch call resolves to. */
export type FetchResult<D> =
  | { data: D; error?: never; response: Response }
  | { data?: never; error: unknown; response: Response };

/**
 * unwrap resolves to the data of a 2xx answer and throws a {@link ProblemError} for any other
 * status. Transport failures (connection refused, abort) reject with fetch's own error.
 */
export async function unwrap<R extends FetchResult<unknown>>(
  call: Promise<R> | R,
): Promise<Exclude<R["data"], undefined>> {
  const r = await call;
  if (!r.response.ok) throw ProblemError.fromResponse(r.response, r.error);
  return r.data as Exclude<R["data"], undefined>;
}

/** Options of {@link waitForRun}. */
export interface WaitOptions {
  /** Milliseconds between polls. Defaults to 1000. */
  intervalMs?: number;
  /** Give up (throw) after this many milliseconds. Defaults to no limit. */
  timeoutMs?: number;
  /** Stops waiting (rejects with the signal's reason) when aborted. */
  signal?: AbortSignal;
}

/**
 * waitForRun polls get_run until the run is done and returns its last state, whatever phase it
 * ended in (check `phase === "succeeded"`). It throws a {@link ProblemError} when get_run
 * fails, and an Error when `timeoutMs` passes first.
 */
export async function waitForRun(api: FlyteWebhookClient, name: string, options: WaitOptions = {}): Promise<Run> {
  const interval = options.intervalMs ?? 1000;
  const deadline = options.timeoutMs === undefined ? Infinity : Date.now() + options.timeoutMs;
  for (;;) {
    options.signal?.throwIfAborted();
    const run = await unwrap(api.GET("/run/{name}", { params: { path: { name } }, signal: options.signal }));
    if (run.done) return run;
    if (Date.now() + interval > deadline) {
      throw new Error(`waitForRun: run ${name} not done after ${options.timeoutMs} ms (phase ${run.phase})`);
    }
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}

/** The filters of list_runs (its query without `page_token`). */
export type RunListQuery = Omit<NonNullable<paths["/runs"]["get"]["parameters"]["query"]>, "page_token">;

/**
 * listRuns yields the runs list_runs answers for the query, newest first, following
 * `next_page_token` from page to page until the last. A CI job finds its runs by label:
 *
 * ```ts
 * for await (const run of listRuns(api, { label: ["ci-job=1234"] })) console.log(run.name, run.phase);
 * ```
 *
 * It throws a {@link ProblemError} when a page is refused (a 400 for filters that do not
 * fit, a 403 for a task outside the allowlist).
 */
export async function* listRuns(
  api: FlyteWebhookClient,
  query: RunListQuery = {},
  options: { signal?: AbortSignal } = {},
): AsyncGenerator<Run, void, undefined> {
  let token: string | undefined;
  for (;;) {
    const page = await unwrap(
      api.GET("/runs", { params: { query: { ...query, page_token: token } }, signal: options.signal }),
    );
    yield* page.runs;
    if (!page.next_page_token) return;
    token = page.next_page_token;
  }
}

export {
  watchRun,
  followRunLogs,
  readEvents,
  type RunEvent,
  type SSEEvent,
  type StreamOptions,
  type WatchRunOptions,
  type FollowRunLogsOptions,
} from "./watch.js";
