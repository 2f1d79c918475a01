// Starts the real flyte-webhook binary for a test file: a temporary config on a free loopback
// port with a fresh token, the example workspace, a temporary data dir; stop() kills it and
// checks that no task process it started is left behind.
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (this file runs from clients/ts/dist/test/). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../../..");

export interface ServerOptions {
  /** Extra top-level config lines (YAML), e.g. "endpoint_groups: [core, task]". */
  extraConfig?: string;
}

export interface RunningServer {
  baseUrl: string;
  token: string;
  /** What the server wrote to stdout and stderr so far (for failure messages). */
  log(): string;
  /** Stops the server (SIGTERM) and starts it again on the same port, config and data dir. */
  restart(): Promise<void>;
  /** Stops the server (SIGTERM, SIGKILL after 10 s), removes its files, checks for leftovers. */
  stop(): Promise<void>;
}

/** The binary: $FLYTE_WEBHOOK_BIN, or built from the repository into a temporary dir. */
function binary(work: string): string {
  const fromEnv = process.env.FLYTE_WEBHOOK_BIN;
  if (fromEnv) {
    if (!existsSync(fromEnv)) throw new Error(`FLYTE_WEBHOOK_BIN=${fromEnv} does not exist`);
    return resolve(fromEnv);
  }
  const out = join(work, "flyte-webhook");
  execFileSync("go", ["build", "-o", out, "./cmd/flyte-webhook"], { cwd: repoRoot, stdio: ["ignore", "inherit", "inherit"] });
  return out;
}

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      if (addr === null || typeof addr === "string") return reject(new Error("no port"));
      srv.close(() => resolvePort(addr.port));
    });
  });
}

export async function startServer(options: ServerOptions = {}): Promise<RunningServer> {
  const work = mkdtempSync(join(tmpdir(), "flyte-webhook-ts-"));
  const bin = binary(work);
  const port = await freePort();
  const token = randomBytes(32).toString("hex");
  const sha = createHash("sha256").update(token).digest("hex");
  const dataDir = join(work, "data");
  // Inside work (not the default on /dev/shm) so that processesUsing(work) below finds every
  // task this server started: their FLYTE_WEBHOOK_INPUTS/OUTPUTS point into it.
  const scratchDir = join(work, "scratch");
  const config = join(work, "config.yaml");
  writeFileSync(
    config,
    [
      "name: ts-client-test",
      "host: 127.0.0.1",
      `port: ${port}`,
      "requires_auth: true",
      "shutdown_timeout: 5s",
      "log_level: warn",
      options.extraConfig ?? "",
      "backend:",
      "  type: local",
      "  local:",
      `    workspace: ${JSON.stringify(join(repoRoot, "examples/workspace.yaml"))}`,
      `    data_dir: ${JSON.stringify(dataDir)}`,
      `    scratch_dir: ${JSON.stringify(scratchDir)}`,
      "    abort_grace: 2s",
      "    auth:",
      `      tokens: [{sha256: ${sha}, subject: tester, name: Tester}]`,
      "",
    ].join("\n"),
  );

  let output = "";
  let child: ChildProcess;
  let exited: Promise<number | null>;
  let done = false;
  const baseUrl = `http://127.0.0.1:${port}`;

  // spawn starts the binary on the config and waits until it serves.
  const spawnServer = async () => {
    done = false;
    child = spawn(bin, ["serve", "--config", config], { stdio: ["ignore", "pipe", "pipe"] });
    child.stdout?.on("data", (b: Buffer) => (output += b.toString()));
    child.stderr?.on("data", (b: Buffer) => (output += b.toString()));
    exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    void exited.then(() => (done = true));

    const deadline = Date.now() + 30_000;
    for (;;) {
      if (done) throw new Error(`flyte-webhook exited before serving:\n${output}`);
      try {
        const r = await fetch(`${baseUrl}/health`);
        if (r.status === 200) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        child.kill("SIGKILL");
        throw new Error(`flyte-webhook not healthy after 30 s:\n${output}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  // terminate stops it as an operator would (SIGTERM; SIGKILL after 10 s).
  const terminate = async () => {
    if (done) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  };
  await spawnServer();

  return {
    baseUrl,
    token,
    log: () => output,
    async restart() {
      await terminate();
      await spawnServer();
    },
    async stop() {
      await terminate();
      const left = processesUsing(work);
      rmSync(work, { recursive: true, force: true });
      if (left.length > 0) {
        for (const pid of left) {
          try {
            process.kill(pid, "SIGKILL");
          } catch {
            // already gone
          }
        }
        throw new Error(`task processes left running after the server stopped: ${left.join(", ")}`);
      }
    },
  };
}

/** PIDs of live processes whose environment names dir (the task runs' FLYTE_WEBHOOK_* files). */
function processesUsing(dir: string): number[] {
  if (!existsSync("/proc")) return [];
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/environ`, "latin1").includes(dir)) pids.push(Number(entry));
    } catch {
      // gone, or not ours to read
    }
  }
  return pids;
}
