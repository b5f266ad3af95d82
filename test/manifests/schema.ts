/**
 * Offline schema validation of Kubernetes manifests against the API types client-node is generated from:
 * every field must exist in the type (typos like `tolerration` are caught), with the right JSON type.
 * Required fields and enum values are not checked here; the shape tests assert the ones that matter.
 */
import * as k8s from "@kubernetes/client-node";
import {
  acceptedApiVersions,
  isManifestKind,
  validateObject as manifestProblems,
} from "../../src/source/manifests/validate.ts";

interface Attribute {
  baseName: string;
  type: string;
}

type Model = { getAttributeTypeMap(): Attribute[] };

function model(name: string): Model | undefined {
  const candidate = (k8s as unknown as Record<string, unknown>)[name];
  return typeof candidate === "function" && "getAttributeTypeMap" in candidate ? (candidate as Model) : undefined;
}

/** Problems as `path: message`; empty when the object fits its kind's schema. */
export function validateObject(obj: Record<string, unknown>): string[] {
  const kind = obj.kind;
  const apiVersion = obj.apiVersion;
  if (typeof kind !== "string" || typeof apiVersion !== "string") return ["kind and apiVersion are required"];
  // client-node has no Gateway API types: manifests mode's validation, which follows the CRDs' schemas
  if (apiVersion.startsWith("gateway.networking.k8s.io/") && isManifestKind(kind)) {
    if (!acceptedApiVersions(kind).includes(apiVersion)) return [`no schema for ${apiVersion} ${kind}`];
    return manifestProblems(kind, obj, { nodePortRange: { min: 30000, max: 32767 } }).map(
      (p) => `${kind}.${p.field}: ${p.message}`,
    );
  }
  const version = apiVersion.split("/").pop()!;
  const typeName = `${version[0]!.toUpperCase()}${version.slice(1)}${kind}`;
  if (!model(typeName)) return [`no schema for ${apiVersion} ${kind}`];
  const problems: string[] = [];
  const meta = obj.metadata as { name?: unknown } | undefined;
  if (typeof meta?.name !== "string" || meta.name === "") problems.push("metadata.name: required");
  check(obj, typeName, kind, problems);
  return problems;
}

function check(value: unknown, type: string, path: string, problems: string[]): void {
  if (value === null || value === undefined) return;
  const array = /^Array<(.+)>$/.exec(type);
  if (array) {
    if (!Array.isArray(value)) problems.push(`${path}: expected a list`);
    else for (const [i, item] of value.entries()) check(item, array[1]!, `${path}[${i}]`, problems);
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    if (!isObject(value)) problems.push(`${path}: expected a map`);
    else for (const [k, v] of Object.entries(value)) check(v, map[1]!, `${path}.${k}`, problems);
    return;
  }
  switch (type) {
    case "string":
    case "Date":
      if (typeof value !== "string") problems.push(`${path}: expected a string, got ${JSON.stringify(value)}`);
      return;
    case "number":
      if (typeof value !== "number") problems.push(`${path}: expected a number, got ${JSON.stringify(value)}`);
      return;
    case "boolean":
      if (typeof value !== "boolean") problems.push(`${path}: expected true or false, got ${JSON.stringify(value)}`);
      return;
    case "IntOrString":
      if (typeof value !== "string" && typeof value !== "number") problems.push(`${path}: expected a number or string`);
      return;
    case "any":
    case "object":
      return;
  }
  const m = model(type);
  if (!m) {
    problems.push(`${path}: schema type ${type} unknown to the validator`);
    return;
  }
  if (!isObject(value)) {
    problems.push(`${path}: expected an object (${type})`);
    return;
  }
  const attributes = new Map(m.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  for (const [key, child] of Object.entries(value)) {
    const childType = attributes.get(key);
    if (!childType) problems.push(`${path}.${key}: unknown field (${type})`);
    else check(child, childType, `${path}.${key}`, problems);
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
