import type { components } from "./schema.js";

/** An RFC 9457 problem, as every error answer of the API carries it (application/problem+json). */
export type Problem = components["schemas"]["Problem"];
/** One thing that was wrong with a request (422's `errors`). */
export type ProblemErrorItem = components["schemas"]["ProblemError"];

/**
 * ProblemError is thrown by {@link unwrap} (and so by every helper of this package) for any
 * non-2xx answer. It carries the server's problem+json fields; an answer whose body is not a
 * problem (a proxy's HTML page, the plain "404 page not found" of an operation the deployment
 * does not enable) gets a synthesized one: the status, its standard title, type "about:blank"
 * and up to 512 characters of the body as detail.
 */
export class ProblemError extends Error {
  /** The HTTP status code. */
  readonly status: number;
  /** The status's short text, e.g. "Not Found". */
  readonly title: string;
  /** What went wrong, for this request (the field the Python app's clients read). */
  readonly detail: string;
  /** A URI naming the kind of problem; "about:blank" when the status says it all. */
  readonly type: string;
  /** The request path, when the server sent it. */
  readonly instance?: string;
  /** The request id to quote when reporting a problem (also the X-Request-Id header). */
  readonly request_id?: string;
  /** For 422: each thing that was wrong with the request. Empty otherwise. */
  readonly errors: ProblemErrorItem[];
  /** The whole problem as received (or synthesized). */
  readonly problem: Problem;
  /** The HTTP response (its body already read). */
  readonly response: Response;

  constructor(problem: Problem, response: Response) {
    super(describe(problem));
    this.name = "ProblemError";
    this.problem = problem;
    this.response = response;
    this.status = problem.status;
    this.title = problem.title;
    this.detail = problem.detail;
    this.type = problem.type;
    this.instance = problem.instance;
    this.request_id = problem.request_id ?? response.headers.get("x-request-id") ?? undefined;
    this.errors = problem.errors ?? [];
  }

  /**
   * fromResponse builds the error from a non-2xx response and its body as openapi-fetch
   * parsed it (an object when it was JSON, else the text).
   */
  static fromResponse(response: Response, body: unknown): ProblemError {
    return new ProblemError(toProblem(response, body), response);
  }
}

/** isProblemError narrows an unknown caught value. */
export function isProblemError(e: unknown): e is ProblemError {
  return e instanceof ProblemError;
}

function toProblem(response: Response, body: unknown): Problem {
  const status = response.status;
  const title = response.statusText || statusText(status);
  if (body !== null && typeof body === "object" && !Array.isArray(body)) {
    const b = body as Partial<Problem>;
    if (typeof b.status === "number" || typeof b.detail === "string" || typeof b.title === "string") {
      return {
        ...b,
        type: typeof b.type === "string" && b.type !== "" ? b.type : "about:blank",
        title: typeof b.title === "string" && b.title !== "" ? b.title : title,
        status: typeof b.status === "number" ? b.status : status,
        detail: typeof b.detail === "string" ? b.detail : "",
      };
    }
  }
  let detail = typeof body === "string" ? body : body === undefined ? "" : JSON.stringify(body);
  detail = detail.trim().slice(0, 512);
  return { type: "about:blank", title, status, detail };
}

function describe(p: Problem): string {
  let s = `${p.status} ${p.title}`;
  if (p.detail) s += `: ${p.detail}`;
  for (const e of p.errors ?? []) s += `; ${e.in} "${e.name}": ${e.reason}`;
  if (p.request_id) s += ` (request_id ${p.request_id})`;
  return s;
}

const TITLES: Record<number, string> = {
  400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
  409: "Conflict", 413: "Content Too Large", 422: "Unprocessable Entity", 429: "Too Many Requests",
  500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable",
  504: "Gateway Timeout",
};

function statusText(status: number): string {
  return TITLES[status] ?? `HTTP ${status}`;
}
