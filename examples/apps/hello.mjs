// The quickstart's served app: a small JSON API with a health path. The webhook starts it
// (activate_app), gives it its port in $PORT, checks GET /healthz, and relays calls to it
// (call_app); it stops it with SIGTERM (deactivate_app).
//
//   GET  /greet?name=Ada        → {"greeting": "Hello, Ada!"}
//   POST /greet {"name": "Ada"} → the same
import http from "node:http";

const send = (res, status, body) => {
  res.writeHead(status, { "Content-Type": "application/json" });
  res.end(JSON.stringify(body));
};

const readJSON = async (req) => {
  let raw = "";
  for await (const chunk of req) raw += chunk;
  try {
    return raw ? JSON.parse(raw) : {};
  } catch {
    return null;
  }
};

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, "http://app");
  if (url.pathname === "/healthz") return send(res, 200, { status: "ok" });
  if (url.pathname === "/greet") {
    const body = req.method === "POST" ? await readJSON(req) : {};
    if (body === null) return send(res, 400, { detail: "the body is not JSON" });
    const name = body.name ?? url.searchParams.get("name") ?? "world";
    return send(res, 200, { greeting: `Hello, ${name}!` });
  }
  send(res, 404, { detail: `no route for ${url.pathname}` });
});

server.listen(Number(process.env.PORT), "127.0.0.1", () => {
  console.log(`hello: listening on 127.0.0.1:${process.env.PORT}`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
