/**
 * h2c with prior knowledge (RFC 9113 §3.3) on the plain-HTTP listener: a client that opens a connection with
 * the HTTP/2 connection preface (gRPC clients to an `http://` address do) is served by node:http2 instead of
 * the HTTP/1 front end. The raw front end (raw-connection.ts) recognises the preface in the connection's first
 * bytes and hands the socket here with what it has read; requests go to the same IngressProxy.handle
 * (secure = false) as the TLS listener's HTTP/2 side, with the same limits: the largest header list, and an
 * idle session closed after the keep-alive timeout (Node's HTTP/2 server has no idle timeout of its own) unless
 * a stream is open (a silent gRPC stream is not an idle session).
 * The connection was counted against the listener's and the client IP's caps when it was accepted; its
 * socket's close gives those back, as for any other connection.
 */

import {
  createServer,
  type Http2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from "node:http2";
import type { Socket } from "node:net";
import type { ClientLimits } from "./limits.ts";
import type { ClientRequest, ClientResponse, IngressProxy } from "./proxy.ts";

/** The client connection preface (RFC 9113 §3.4), 24 bytes. */
export const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/**
 * What the first bytes of a connection say: "h2" (starts with the whole preface), "more" (a prefix of the
 * preface: wait for more bytes), "h1" (anything else, the HTTP/1 parser's business).
 */
export function sniffPreface(bytes: Buffer): "h2" | "more" | "h1" {
  const n = Math.min(bytes.length, PREFACE.length);
  for (let i = 0; i < n; i++) if (bytes[i] !== PREFACE[i]) return "h1";
  return n === PREFACE.length ? "h2" : "more";
}

export class PriorKnowledgeServer {
  private readonly server: Http2Server;
  private readonly sessions = new Set<ServerHttp2Session>();

  constructor(proxy: IngressProxy, limits: ClientLimits) {
    this.server = createServer({
      maxSessionMemory: 10,
      settings: { maxHeaderListSize: limits.maxHeaderSize },
    });
    this.server.on("session", (session: ServerHttp2Session) => {
      closeWhenIdle(session, limits.keepAliveTimeoutMs);
      this.sessions.add(session);
      session.once("close", () => this.sessions.delete(session));
    });
    this.server.on("request", (req: Http2ServerRequest, res: Http2ServerResponse) =>
      proxy.handle(req as ClientRequest, res as ClientResponse, false),
    );
    // a broken session or stream concerns that connection only
    this.server.on("sessionError", ignore);
    this.server.on("streamError", ignore);
  }

  /** Serves `socket` over HTTP/2; `read` holds the bytes already read from it (the preface, perhaps more). */
  serve(socket: Socket, read: Buffer): void {
    socket.pause();
    socket.unshift(read);
    // node:http2 reads what is buffered on the socket before it takes the socket's handle over
    this.server.emit("connection", socket);
  }

  /** The listener is closing: every session is told (GOAWAY) and closes once its streams are done. */
  drain(): void {
    for (const session of this.sessions) session.close();
  }

  closeAll(): void {
    for (const session of this.sessions) session.destroy();
  }
}

/**
 * Closes `session` after `ms` without a frame while no stream is open (Node's HTTP/2 server has no idle timeout
 * of its own). For any HTTP/2 listener: the TLS ones can use it too.
 */
export function closeWhenIdle(session: ServerHttp2Session, ms: number): void {
  (session as CountedSession)[OPEN_STREAMS] = 0;
  session.on("stream", countStream);
  // on(), not setTimeout's callback (a once listener): after a timeout passed with a stream open, the next
  // one must still close the session
  session.setTimeout(ms);
  session.on("timeout", destroyIdleSession);
}

const OPEN_STREAMS = Symbol("nodeplane.openStreams");
type CountedSession = ServerHttp2Session & { [OPEN_STREAMS]: number };

function countStream(this: CountedSession, stream: ServerHttp2Stream): void {
  this[OPEN_STREAMS]++;
  stream.once("close", () => {
    this[OPEN_STREAMS]--;
  });
}

/**
 * No frame for the keep-alive timeout: the session is closed when no stream is open. A gRPC stream may stay
 * silent for long (a server stream waiting for its next event); its session lives on, and the timeout runs
 * again after the next frame.
 */
function destroyIdleSession(this: ServerHttp2Session): void {
  if ((this as CountedSession)[OPEN_STREAMS] === 0) this.destroy();
}

function ignore(): void {}
