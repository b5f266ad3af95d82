import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, ingress, rawExchange, rule, service, slicesFor, startIngress } from "./harness.ts";
import { type Recorder, startRecorder } from "./recorder.ts";

/**
 * Differential test of the raw HTTP/1 front end's message boundaries (docs/reliability.md): generated request streams
 * (pipelined requests with many or few headers, Content-Length or chunked bodies with chunk extensions and
 * trailers, some made invalid on purpose) are cut at random byte positions into writes and sent to the front
 * end, whose backend records what reaches it; the same bytes go to a small reference splitter written from
 * RFC 9112 below. They must agree: the backend gets exactly the requests the reference finds (method, target,
 * body), in order, with the answers in order; where the reference finds the stream invalid, the front end
 * answers those before it, then 4xx/505 and closes, and nothing of the stream after it reaches the backend.
 */

interface Message {
  method: string;
  target: string;
  body: string;
}

interface Reference {
  messages: Message[];
  /** the stream is invalid from message `messages.length` on */
  invalid: boolean;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e]*$/;
const HEX = /^[0-9a-fA-F]+$/;

/** RFC 9112 message splitting for the subset the generator makes (and what the proxy adds: one Host). */
function reference(stream: string): Reference {
  const messages: Message[] = [];
  const invalid = (): Reference => ({ messages, invalid: true });
  let pos = 0;
  while (pos < stream.length) {
    const headEnd = stream.indexOf("\r\n\r\n", pos);
    if (headEnd < 0) return invalid();
    const lines = stream.slice(pos, headEnd).split("\r\n");
    pos = headEnd + 4;
    const start = /^([A-Z]+) (\/[^\s]*) HTTP\/1\.([01])$/.exec(lines[0]!);
    if (!start) return invalid();
    const [, method, target, minor] = start;
    let hosts = 0;
    let keepAlive = false;
    const lengths: string[] = [];
    const encodings: string[] = [];
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":");
      if (colon <= 0) return invalid();
      const name = line.slice(0, colon);
      const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, ""); // OWS only (not String.trim)
      if (!TOKEN.test(name) || !FIELD_VALUE.test(value)) return invalid();
      const lower = name.toLowerCase();
      if (lower === "host") hosts++;
      else if (lower === "content-length") lengths.push(value);
      else if (lower === "transfer-encoding") encodings.push(value);
      else if (lower === "connection") keepAlive ||= value.toLowerCase() === "keep-alive";
    }
    // one Host (two: 400; none on 1.1: 400); Content-Length xor Transfer-Encoding, never TE on HTTP/1.0
    if (hosts > 1 || (hosts === 0 && minor === "1")) return invalid();
    if (lengths.length > 1 || (lengths.length > 0 && encodings.length > 0)) return invalid();
    let body = "";
    if (encodings.length > 0) {
      if (minor === "0" || encodings.length > 1 || encodings[0]!.toLowerCase() !== "chunked") return invalid();
      for (;;) {
        const lineEnd = stream.indexOf("\r\n", pos);
        if (lineEnd < 0) return invalid();
        const [size, ...extensions] = stream.slice(pos, lineEnd).split(";");
        if (
          !HEX.test(size!) ||
          extensions.some((e) => !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+(=[!#$%&'*+\-.^_`|~0-9A-Za-z]+)?$/.test(e))
        )
          return invalid();
        const n = Number.parseInt(size!, 16);
        pos = lineEnd + 2;
        if (n === 0) break;
        body += stream.slice(pos, pos + n);
        if (stream.slice(pos + n, pos + n + 2) !== "\r\n") return invalid();
        pos += n + 2;
      }
      // trailer section: field lines, then an empty line; never part of any request's head
      for (;;) {
        const lineEnd = stream.indexOf("\r\n", pos);
        if (lineEnd < 0) return invalid();
        const line = stream.slice(pos, lineEnd);
        pos = lineEnd + 2;
        if (line === "") break;
        if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e]*$/.test(line)) return invalid();
      }
    } else if (lengths.length === 1) {
      if (!/^\d+$/.test(lengths[0]!)) return invalid();
      const n = Number(lengths[0]);
      if (pos + n > stream.length) return invalid();
      body = stream.slice(pos, pos + n);
      pos += n;
    }
    messages.push({ method: method!, target: target!, body });
    // HTTP/1.0 without Connection: keep-alive: the connection ends with this message
    if (minor === "0" && !keepAlive) break;
  }
  return { messages, invalid: false };
}

// ---- the generator ------------------------------------------------------------------------------

const tokenChars = fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz0123456789-_.~".split(""));
const token = (min: number, max: number) => fc.string({ unit: tokenChars, minLength: min, maxLength: max });
const valueChars = fc.constantFrom(
  ..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_.,;=/\"'()!".split(""),
);
const fieldValue = fc.string({ unit: valueChars, maxLength: 60 }).map((v) => v.trim());
const bodyBytes = fc.string({ unit: fc.constantFrom(..."abcxyz019\r\n :GET/HTTP".split("")), maxLength: 300 });

type Framing =
  | { kind: "none" }
  | { kind: "length"; body: string }
  | { kind: "chunked"; chunks: { data: string; ext: string }[]; trailers: [string, string][] };

interface Generated {
  method: string;
  path: string;
  minor: "0" | "1";
  fields: [string, string][];
  framing: Framing;
  /** made invalid on purpose */
  mutation: Mutation | undefined;
}

type Mutation =
  | "duplicate-host"
  | "te-on-1.0"
  | "cl-and-te"
  | "bad-chunk-size"
  | "bare-lf"
  | "http-2.0"
  | "http-1.2"
  | "two-lengths"
  | "obs-fold"
  | "space-before-colon";

const framing: fc.Arbitrary<Framing> = fc.oneof(
  fc.constant<Framing>({ kind: "none" }),
  bodyBytes.map((body): Framing => ({ kind: "length", body })),
  fc
    .record({
      chunks: fc.array(
        fc.record({
          data: bodyBytes.filter((d) => d.length > 0),
          ext: fc.oneof(
            fc.constant(""),
            token(1, 8).map((t) => `;${t}`),
            fc.tuple(token(1, 5), token(1, 5)).map(([a, b]) => `;${a}=${b}`),
          ),
        }),
        { maxLength: 4 },
      ),
      trailers: fc.array(
        fc.oneof(
          fc.tuple(
            token(1, 10).map((t) => `X-T-${t}`),
            fieldValue,
          ),
          fc.constant<[string, string]>(["Host", "evil.com"]),
        ),
        { maxLength: 3 },
      ),
    })
    .map((c): Framing => ({ kind: "chunked", ...c })),
);

const request: fc.Arbitrary<Generated> = fc
  .record({
    method: fc.constantFrom("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"),
    path: fc.tuple(token(0, 20), fc.option(token(1, 10))).map(([p, q]) => `${p}${q === null ? "" : `?q=${q}`}`),
    minor: fc.constantFrom<"0" | "1">("1", "1", "1", "0"),
    keepAlive10: fc.boolean(),
    // many or few fields: llhttp hands over heads of more than 31 fields in batches
    fields: fc.oneof(
      fc.array(
        fc.tuple(
          token(1, 12).map((t) => `X-${t}`),
          fieldValue,
        ),
        { maxLength: 8 },
      ),
      fc.array(
        fc.tuple(
          token(1, 12).map((t) => `X-${t}`),
          fieldValue,
        ),
        { minLength: 28, maxLength: 120 },
      ),
    ),
    hostAt: fc.nat(),
    framing,
    // one request in ten made invalid: most streams pipeline valid requests, many end in an invalid one
    mutation: fc.oneof(
      { arbitrary: fc.constant(undefined), weight: 9 },
      {
        arbitrary: fc.constantFrom<Mutation>(
          "duplicate-host",
          "te-on-1.0",
          "cl-and-te",
          "bad-chunk-size",
          "bare-lf",
          "http-2.0",
          "http-1.2",
          "two-lengths",
          "obs-fold",
          "space-before-colon",
        ),
        weight: 1,
      },
    ),
  })
  .map(({ method, path, minor, keepAlive10, fields, hostAt, framing, mutation }) => {
    const all: [string, string][] = [...fields];
    all.splice(hostAt % (all.length + 1), 0, ["Host", "h.com"]);
    if (minor === "0" && keepAlive10) all.push(["Connection", "keep-alive"]);
    // bodies only where clients send them (a body on GET/HEAD is legal, but proxies disagree on it)
    const bodied = method === "POST" || method === "PUT" || method === "PATCH";
    return {
      method,
      path,
      minor,
      fields: all,
      framing: bodied ? framing : { kind: "none" as const },
      mutation,
    };
  });

/** The request's bytes; `run` makes its target unique to this run. */
function render(r: Generated, run: number): string {
  let version = `HTTP/1.${r.minor}`;
  const fields = [...r.fields];
  let chunkSize = (n: number) => n.toString(16);
  const f = r.framing;
  switch (r.mutation) {
    case "duplicate-host":
      fields.push(["host", "h.com"]);
      break;
    case "http-2.0":
      version = "HTTP/2.0";
      break;
    case "http-1.2":
      version = "HTTP/1.2";
      break;
    case "bad-chunk-size":
      chunkSize = () => "zz";
      break;
  }
  let body = "";
  if (f.kind === "length") {
    fields.push(["Content-Length", String(f.body.length)]);
    if (r.mutation === "two-lengths") fields.push(["Content-Length", String(f.body.length + 1)]);
    body = f.body;
  } else if (f.kind === "chunked") {
    fields.push(["Transfer-Encoding", "chunked"]);
    if (r.mutation === "cl-and-te") fields.push(["Content-Length", "3"]);
    for (const c of f.chunks) body += `${chunkSize(c.data.length)}${c.ext}\r\n${c.data}\r\n`;
    body += "0\r\n";
    for (const [n, v] of f.trailers) body += `${n}: ${v}\r\n`;
    body += "\r\n";
  }
  if (r.mutation === "te-on-1.0" && f.kind === "chunked") version = "HTTP/1.0";
  let head = `${r.method} /r${run}/${r.path} ${version}\r\n`;
  for (const [n, v] of fields) head += `${n}: ${v}\r\n`;
  if (r.mutation === "bare-lf") head = head.replace(/\r\n(?=[^\r\n]*\r\n$)/, "\n");
  if (r.mutation === "obs-fold") head += " folded\r\n";
  if (r.mutation === "space-before-colon") head += "X-Space : v\r\n";
  return `${head}\r\n${body}`;
}

/** `text` cut at the given positions (any order, repeats ignored) into writes. */
function cut(text: string, positions: number[]): string[] {
  const at = [...new Set(positions.map((p) => p % (text.length + 1)))].sort((a, b) => a - b);
  const out: string[] = [];
  let last = 0;
  for (const p of at) {
    if (p > last) out.push(text.slice(last, p));
    last = Math.max(last, p);
  }
  out.push(text.slice(last));
  return out.filter((s) => s.length > 0);
}

// Backends of this file: 127.245.21.x
describe("ingress plane: the raw HTTP/1 front end agrees with a reference splitter on message boundaries", () => {
  let rec: Recorder;
  let h: Harness;

  beforeAll(async () => {
    rec = await startRecorder("127.245.21.1");
    h = await startIngress(
      [
        service("default", "rec", [{ name: "http", port: 80 }]),
        ...slicesFor("default", "rec", "http", [{ ip: "127.245.21.1", port: rec.port }]),
        ingress("default", "rec", { rules: [rule("h.com", [{ path: "/", service: "rec", port: 80 }])] }),
      ],
      { limits: { httpFrontend: "raw" } },
    );
  });

  afterAll(async () => {
    await h?.close();
    await rec?.close();
  });

  it("reference sanity: splits what the generator makes, refuses its mutations", () => {
    const valid =
      "POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nHost: e\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n";
    expect(reference(valid)).toEqual({
      messages: [
        { method: "POST", target: "/a", body: "abc" },
        { method: "GET", target: "/b", body: "" },
      ],
      invalid: false,
    });
    expect(reference("GET /a HTTP/1.1\r\nHost: h\r\nhost: h\r\n\r\n").invalid).toBe(true);
    expect(reference("POST /a HTTP/1.0\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n").invalid).toBe(true);
    expect(reference("GET /a HTTP/2.0\r\nHost: h\r\n\r\n").invalid).toBe(true);
  });

  it("agrees on generated request streams cut into random writes (fast-check, bounded)", async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(request, { minLength: 1, maxLength: 4 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        async (requests, positions) => {
          run++;
          const prefix = `/r${run}/`;
          const stream = requests.map((r) => render(r, run)).join("");
          const expected = reference(stream);
          console.log(`STAT ${expected.invalid ? "invalid" : "valid"} ${expected.messages.length}`);
          const { data, closed } = await rawExchange(h.httpPort, cut(stream, positions), { ms: 900, halfClose: true });
          // the client half-closes after sending: the front end answers everything it accepted, then closes
          expect(closed).toBe(true);
          const statuses = [...data.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => m[1]!);
          const accepted = expected.messages.map(() => "200");
          if (expected.invalid) {
            expect(statuses.slice(0, -1)).toEqual(accepted);
            expect(statuses.at(-1)).toMatch(/^(4\d\d|505)$/);
          } else expect(statuses).toEqual(accepted);
          // The backend: exactly the reference's requests, whole and in order. A refused request whose head
          // had gone upstream before its body turned out malformed may have reached it cut off, never whole.
          const mine = rec.seen.filter((s) => s.url.startsWith(prefix));
          const whole = mine.filter((s) => s.complete);
          expect(whole.map((s) => ({ method: s.method, target: s.url, body: s.body }))).toEqual(expected.messages);
          expect(mine.length - whole.length).toBeLessThanOrEqual(expected.invalid ? 1 : 0);
          // and the answers in request order (HEAD answers have no body)
          const answered = [...data.matchAll(/^([A-Z]+) (\/\S*) \d+$/gm)].map((m) => `${m[1]} ${m[2]}`);
          expect(answered).toEqual(
            expected.messages.filter((m) => m.method !== "HEAD").map((m) => `${m.method} ${m.target}`),
          );
        },
      ),
      { numRuns: 200, interruptAfterTimeLimit: 25_000 },
    );
  }, 40_000);
});
