import type { Gateway, RouteKind } from "../../model/gateway.ts";
import type { Problem } from "../../model/problems.ts";
import type {
  GatewayHttpSocket,
  GatewayL4Socket,
  GatewaySnapshot,
  GatewayStatusSet,
  GatewayVirtualHost,
  RouteStatusEntry,
} from "../../snapshot/gateway.ts";
import type { NodeSnapshot } from "../../snapshot/snapshot.ts";
import { type Store, type StoreChange, sliceOwner } from "../../store/store.ts";
import { StoreFollower } from "../follow.ts";
import type { TranslateOptions } from "../options.ts";
import { attachRoutes } from "./attach.ts";
import { judgeClasses } from "./classes.ts";
import { claimSockets, markOverlappingTls } from "./conflicts.ts";
import { analyzeGateway, type GatewayInfo, newGatewayInfo } from "./gateways.ts";
import { objects } from "./input.ts";
import type { CertificateCache } from "./listeners.ts";
import { ReferenceGrants } from "./references.ts";
import { type AnyRoute, compileRoute, type RouteInfo, referencedServices } from "./routes.ts";
import { buildSockets, byAge } from "./sockets.ts";
import { gatewayStatus } from "./status.ts";

const ROUTE_STORE_KINDS = [
  "HTTPRoute",
  "GRPCRoute",
  "TLSRoute",
  "TCPRoute",
  "UDPRoute",
] as const satisfies readonly RouteKind[];

/** Kinds whose every change can change the result; Services, slices and Secrets only matter when referenced. */
const ALWAYS_RELEVANT: ReadonlySet<string> = new Set([
  "GatewayClass",
  "Gateway",
  "ReferenceGrant",
  "Namespace",
  ...ROUTE_STORE_KINDS,
]);

/**
 * Gateway API objects of our GatewayClasses → the gateway part of the snapshot (docs/gateway.md): the sockets
 * the planes serve and the status of every object of our classes. Pure apart from its memo: Gateway API
 * objects are few, so any relevant change rebuilds the whole part; changes to Services, EndpointSlices and
 * Secrets no Route or listener names are ignored, and a rebuild that changes nothing returns the previous
 * snapshot and problem list (the same objects: the pipeline and the IPC delta compare by identity). Sockets
 * whose content did not change are the previous objects too.
 */
export class GatewayTranslator {
  private readonly follower = new StoreFollower((store, changes) => this.onChanges(store, changes));
  private dirty = true;
  private context = "";
  private services = new Set<string>();
  private secrets = new Set<string>();
  private readonly certificates: CertificateCache = new WeakMap();
  /** compiled Routes by `kind/namespace/name`, with what they were compiled from */
  private compiled = new Map<string, CompiledEntry>();
  /** virtual hosts of the last build by `socketId|host`, reused while their rules are the same objects */
  private hosts = new Map<string, GatewayVirtualHost>();
  /** bumped on every ReferenceGrant change: compilations from before are stale */
  private grantsStamp = 0;
  private sockets = new Map<string, { json: string; socket: GatewayHttpSocket | GatewayL4Socket }>();
  private statusJson = "";
  private last: { snapshot: GatewaySnapshot; problems: Problem[] } | undefined;

  translate(
    store: Store,
    options: TranslateOptions,
    node: NodeSnapshot,
  ): { snapshot: GatewaySnapshot; problems: Problem[] } {
    if (this.follower.follow(store) || this.follower.behind(store)) {
      // changes may have gone unseen: nothing compiled before can be trusted
      this.dirty = true;
      this.grantsStamp++;
    }
    const context = JSON.stringify([
      options.gatewayController,
      options.gatewayAddress,
      options.publishAddresses,
      node.addresses,
    ]);
    if (context !== this.context) this.dirty = true;
    this.context = context;
    this.follower.synced(store);
    if (this.last && !this.dirty) return this.last;
    const built = this.build(store, options, node);
    // only now: a build that threw is tried again next time rather than leaving the old part in place
    this.dirty = false;
    this.last = built;
    return built;
  }

  close(): void {
    this.follower.close();
  }

  private build(
    store: Store,
    options: TranslateOptions,
    node: NodeSnapshot,
  ): { snapshot: GatewaySnapshot; problems: Problem[] } {
    const problems: Problem[] = [];
    const grants = new ReferenceGrants(store);
    const classes = judgeClasses(store.list("GatewayClass"), options.gatewayController, problems);

    // oldest first from here on, so problems, shared sockets and conflicts never depend on the store's order
    const ours: { key: string; created: string; gateway: Gateway }[] = [];
    for (const [key, gateway] of store.entries("Gateway"))
      if (classes.has(gateway.spec?.gatewayClassName ?? ""))
        ours.push({ key, created: gateway.metadata?.creationTimestamp ?? "", gateway });
    ours.sort(byAge);
    const gatewayList = ours.map(({ key, gateway }) => {
      const verdict = classes.get(gateway.spec?.gatewayClassName ?? "")!;
      try {
        return analyzeGateway(store, grants, key, gateway, verdict, options, node, this.certificates, problems);
      } catch (err) {
        // a shape the checks above did not foresee costs this Gateway only
        return unreadable(key, gateway, err, problems);
      }
    });
    claimSockets(gatewayList, problems);
    markOverlappingTls(gatewayList);
    const gateways = new Map(gatewayList.map((g) => [g.key, g]));

    const secrets = new Set<string>();
    for (const g of gatewayList)
      for (const l of g.listeners)
        for (const ref of objects(l.spec.tls?.certificateRefs))
          secrets.add(`${ref.namespace ?? g.namespace}/${ref.name}`);
    this.secrets = secrets;

    // Only Routes naming one of our Gateways are compiled: the others are not ours to serve or report. A Route
    // whose object, ReferenceGrants and named Services (and their slices) are the ones it was compiled from keeps
    // its compilation, so its rules keep their identity for the planes.
    const services = new Set<string>();
    const routes: RouteInfo[] = [];
    const compiled = new Map<string, CompiledEntry>();
    for (const kind of ROUTE_STORE_KINDS) {
      for (const [key, route] of store.entries(kind) as IterableIterator<[string, AnyRoute]>) {
        if (!namesOurGateway(route, gateways)) continue;
        const id = `${kind}/${key}`;
        let entry = this.compiled.get(id);
        if (!entry || !upToDate(store, entry, route, this.grantsStamp)) {
          const named = new Set<string>();
          referencedServices(route, named);
          const deps = [...named].map((k) => ({
            key: k,
            service: store.get("Service", k),
            slices: store.slicesFor(k),
          }));
          entry = { route, grants: this.grantsStamp, deps, info: compileRoute(store, grants, kind, key, route) };
        }
        compiled.set(id, entry);
        for (const d of entry.deps) services.add(d.key);
        routes.push(entry.info);
      }
    }
    this.compiled = compiled;
    this.services = services;
    routes.sort((a, b) => byAge(a, b) || (a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : 0));
    for (const r of routes) problems.push(...r.problems);

    const { attachments, attached, statuses } = attachRoutes(routes, gateways, problems);
    const { http, l4, hosts } = buildSockets(gatewayList, attachments, this.hosts);
    this.hosts = hosts;

    const status: GatewayStatusSet = {
      gatewayClasses: [...classes.values()].map((c) => c.status).sort((a, b) => compare(a.name, b.name)),
      gateways: gatewayList.map((g) => gatewayStatus(g, attached)).sort(byName),
      routes: statuses.sort((a: RouteStatusEntry, b: RouteStatusEntry) => compare(a.kind, b.kind) || byName(a, b)),
    };
    return this.reuse(http, l4, status, problems);
  }

  /** The previous objects wherever the new ones are equal, and the previous result when everything is. */
  private reuse(
    http: GatewayHttpSocket[],
    l4: GatewayL4Socket[],
    status: GatewayStatusSet,
    problems: Problem[],
  ): { snapshot: GatewaySnapshot; problems: Problem[] } {
    const sockets = new Map<string, { json: string; socket: GatewayHttpSocket | GatewayL4Socket }>();
    let same = this.last !== undefined;
    const keep = <T extends GatewayHttpSocket | GatewayL4Socket>(socket: T): T => {
      const json = JSON.stringify(socket);
      const before = this.sockets.get(socket.id);
      const chosen = before && before.json === json ? (before.socket as T) : socket;
      if (chosen === socket) same = false;
      sockets.set(socket.id, { json, socket: chosen });
      return chosen;
    };
    const nextHttp = http.map(keep);
    const nextL4 = l4.map(keep);
    const previous = this.last;
    if (
      previous &&
      (previous.snapshot.http.length !== nextHttp.length || previous.snapshot.l4.length !== nextL4.length)
    )
      same = false;
    if (previous && same) {
      same =
        nextHttp.every((s, i) => s === previous.snapshot.http[i]) &&
        nextL4.every((s, i) => s === previous.snapshot.l4[i]);
    }
    this.sockets = sockets;
    const statusJson = JSON.stringify(status);
    const nextStatus = previous && statusJson === this.statusJson ? previous.snapshot.status : status;
    if (nextStatus !== previous?.snapshot.status) same = false;
    this.statusJson = statusJson;
    const nextProblems = previous && sameProblems(previous.problems, problems) ? previous.problems : problems;
    if (previous && same && nextProblems === previous.problems) return previous;
    return { snapshot: { http: nextHttp, l4: nextL4, status: nextStatus }, problems: nextProblems };
  }

  private onChanges(store: Store, changes: readonly StoreChange[]): void {
    for (const change of changes) if (change.kind === "ReferenceGrant") this.grantsStamp++;
    if (this.dirty) return;
    for (const change of changes) {
      if (ALWAYS_RELEVANT.has(change.kind)) this.dirty = true;
      else if (change.kind === "Service") this.dirty ||= this.services.has(change.key);
      else if (change.kind === "Secret") this.dirty ||= this.secrets.has(change.key);
      else if (change.kind === "EndpointSlice") {
        const before = change.previous ? sliceOwner(change.previous as never) : undefined;
        const slice = store.get("EndpointSlice", change.key);
        const now = slice ? sliceOwner(slice) : undefined;
        this.dirty ||=
          (before !== undefined && this.services.has(before)) || (now !== undefined && this.services.has(now));
      }
      if (this.dirty) return;
    }
  }
}

interface CompiledEntry {
  route: AnyRoute;
  grants: number;
  deps: { key: string; service: unknown; slices: readonly unknown[] }[];
  info: RouteInfo;
}

function upToDate(store: Store, entry: CompiledEntry, route: AnyRoute, grants: number): boolean {
  return (
    entry.route === route &&
    entry.grants === grants &&
    entry.deps.every((d) => store.get("Service", d.key) === d.service && store.slicesFor(d.key) === d.slices)
  );
}

function unreadable(key: string, gateway: Gateway, err: unknown, problems: Problem[]): GatewayInfo {
  const info = newGatewayInfo(key, gateway);
  const message = `could not be read: ${(err as Error).message}`;
  problems.push({ kind: "Gateway", namespace: info.namespace, name: info.name, field: "spec", message });
  info.notAccepted = { reason: "Invalid", message };
  return info;
}

function namesOurGateway(route: AnyRoute, gateways: ReadonlyMap<string, GatewayInfo>): boolean {
  const namespace = route.metadata?.namespace ?? "default";
  return objects(route.spec?.parentRefs).some(
    (p) =>
      (p.group ?? "gateway.networking.k8s.io") === "gateway.networking.k8s.io" &&
      (p.kind ?? "Gateway") === "Gateway" &&
      gateways.has(`${p.namespace ?? namespace}/${p.name}`),
  );
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function byName(a: { namespace: string; name: string }, b: { namespace: string; name: string }): number {
  return compare(a.namespace, b.namespace) || compare(a.name, b.name);
}

function sameProblems(a: readonly Problem[], b: readonly Problem[]): boolean {
  return a.length === b.length && a.every((p, i) => JSON.stringify(p) === JSON.stringify(b[i]));
}
