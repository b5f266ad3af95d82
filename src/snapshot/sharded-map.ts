/**
 * The answer index as an immutable map split into shards by a hash of the name. A snapshot's index
 * is still being served while the next one is built, so it cannot change in place; copying all of it
 * for a one-endpoint change would cost ~40k entries. Instead the next index shares every shard the
 * change did not touch and copies only the few it did (copy on write).
 */

const SHARD_BITS = 10;
const SHARDS = 1 << SHARD_BITS;
const EMPTY_SHARD: ReadonlyMap<string, never> = new Map<string, never>();

/** FNV-1a over the UTF-16 code units: cheap, and spreads DNS names evenly over the shards. */
function shardOf(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return (h ^ (h >>> SHARD_BITS) ^ (h >>> 16)) & (SHARDS - 1);
}

export class ShardedMap<V> implements ReadonlyMap<string, V> {
  private readonly shards: readonly ReadonlyMap<string, V>[];
  readonly size: number;

  private constructor(shards: readonly ReadonlyMap<string, V>[], size: number) {
    this.shards = shards;
    this.size = size;
  }

  static empty<V>(): ShardedMap<V> {
    return new ShardedMap<V>(new Array(SHARDS).fill(EMPTY_SHARD), 0);
  }

  /** A writer starting from this map's content; this map itself never changes. */
  edit(): ShardedMapWriter<V> {
    return new ShardedMapWriter<V>(this.shards, this.size, (shards, size) => new ShardedMap(shards, size));
  }

  get(name: string): V | undefined {
    return this.shards[shardOf(name)]!.get(name);
  }

  /**
   * What changed since `previous`: names set to another value (or added) and names removed. Only the
   * shards that are not shared with `previous` are walked.
   */
  changesSince(previous: ShardedMap<V>): { set: [string, V][]; removed: string[] } {
    const set: [string, V][] = [];
    const removed: string[] = [];
    for (let i = 0; i < SHARDS; i++) {
      const now = this.shards[i]!;
      const before = previous.shards[i]!;
      if (now === before) continue;
      for (const [name, value] of now) if (before.get(name) !== value || !before.has(name)) set.push([name, value]);
      for (const name of before.keys()) if (!now.has(name)) removed.push(name);
    }
    return { set, removed };
  }

  has(name: string): boolean {
    return this.shards[shardOf(name)]!.has(name);
  }

  forEach(fn: (value: V, key: string, map: ReadonlyMap<string, V>) => void, thisArg?: unknown): void {
    for (const [k, v] of this) fn.call(thisArg, v, k, this);
  }

  *entries(): MapIterator<[string, V]> {
    for (const shard of this.shards) yield* shard.entries();
  }

  *keys(): MapIterator<string> {
    for (const shard of this.shards) yield* shard.keys();
  }

  *values(): MapIterator<V> {
    for (const shard of this.shards) yield* shard.values();
  }

  [Symbol.iterator](): MapIterator<[string, V]> {
    return this.entries();
  }

  /** As JSON, like a Map through the admin API's replacer: an object of name → records. */
  toJSON(): Record<string, V> {
    return Object.fromEntries(this);
  }

  get [Symbol.toStringTag](): string {
    return "ShardedMap";
  }
}

/** Copies a shard the first time it is written; `finish` hands out the new map (and ends the writer). */
export class ShardedMapWriter<V> {
  private readonly shards: ReadonlyMap<string, V>[];
  private readonly copied: boolean[] = new Array(SHARDS).fill(false);
  private size: number;
  private readonly make: (shards: readonly ReadonlyMap<string, V>[], size: number) => ShardedMap<V>;
  private changed = false;

  constructor(
    shards: readonly ReadonlyMap<string, V>[],
    size: number,
    make: (shards: readonly ReadonlyMap<string, V>[], size: number) => ShardedMap<V>,
  ) {
    this.shards = [...shards];
    this.size = size;
    this.make = make;
  }

  get(name: string): V | undefined {
    return this.shards[shardOf(name)]!.get(name);
  }

  set(name: string, value: V): void {
    const shard = this.writable(shardOf(name));
    const before = shard.size;
    shard.set(name, value);
    this.size += shard.size - before;
  }

  /** Sets `name` unless it is there already; returns what is there (then nothing is written). */
  setIfAbsent(name: string, value: V): V | undefined {
    const i = shardOf(name);
    const existing = this.shards[i]!.get(name);
    if (existing !== undefined) return existing;
    this.writable(i).set(name, value);
    this.size++;
    return undefined;
  }

  delete(name: string): void {
    const i = shardOf(name);
    if (!this.shards[i]!.has(name)) return;
    this.writable(i).delete(name);
    this.size--;
  }

  /** The new map; `previous` itself when nothing was written. */
  finish(previous: ShardedMap<V>): ShardedMap<V> {
    return this.changed ? this.make(this.shards, this.size) : previous;
  }

  private writable(i: number): Map<string, V> {
    this.changed = true;
    if (!this.copied[i]) {
      this.shards[i] = new Map(this.shards[i]);
      this.copied[i] = true;
    }
    return this.shards[i] as Map<string, V>;
  }
}
