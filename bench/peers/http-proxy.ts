// The classic Node peer: http-proxy with a keep-alive agent, one process.
// usage: node bench/peers/http-proxy.ts PORT TARGET_URL
import { Agent, createServer } from "node:http";
import httpProxy from "http-proxy";

const port = Number(process.argv[2]);
const target = process.argv[3];
if (!Number.isInteger(port) || !target) {
  process.stderr.write("usage: http-proxy.ts PORT TARGET_URL\n");
  process.exit(2);
}
const agent = new Agent({ keepAlive: true, maxSockets: 256 });
const proxy = httpProxy.createProxyServer({ target, agent, xfwd: true });
proxy.on("proxyReq", (proxyReq) => {
  proxyReq.on("socket", (socket) => socket.setNoDelay(true));
});
proxy.on("error", (err, _req, res) => {
  if ("writeHead" in res && !res.headersSent) res.writeHead(502, { "content-type": "text/plain" });
  res.end(`bad gateway: ${err.message}\n`);
});
const server = createServer({ noDelay: true, keepAliveTimeout: 75_000 }, (req, res) => proxy.web(req, res));
server.listen(port, "127.0.0.1", () => process.stdout.write(`http-proxy listening on 127.0.0.1:${port}\n`));
const stop = () => server.close(() => process.exit(0));
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
