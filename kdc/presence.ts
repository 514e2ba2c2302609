/**
 * Which devices the KDC counts as connected, the targets of a rotation (DESIGN.md: "a grant to every
 * connected, unrevoked device").
 *
 * Evidence, strongest first:
 *   - the broker's presence events `$SYS/<broker>/new/clients` and `.../disconnect/clients` (client id
 *     as payload). A device is kept per broker node: on a cluster a device that moves to another node
 *     is announced there before the old node reports its disconnect;
 *   - each broker node's census (protocol/census.ts), published when this KDC subscribes: the devices
 *     connected to that node, so that a KDC that (re)starts after its devices knows them at once;
 *   - a rekey request from the device (it is evidently connected, to a node we do not know); not an
 *     ack, which may have waited in the KDC's persistent session while it was down;
 *   - after a start, the devices granted in the current epoch (and in the one being distributed):
 *     a KDC that starts after its devices has seen none of their connects. These are *unconfirmed*:
 *     they get the next rotation's grant, and if nothing confirmed them (request, ack, connect) by the
 *     rotation after that, they are dropped.
 * A device still counted while offline only costs a grant nobody receives (it shows as unacked).
 */
const UNKNOWN_NODE = '?';

interface Entry {
  readonly nodes: Set<string>;
  confirmed: boolean;
  probed: boolean;
}

export class Presence {
  readonly #devices = new Map<string, Entry>();

  /** A `new/clients` event from broker node `node`. */
  connected(id: string, node: string): void {
    const entry = this.#entry(id);
    entry.nodes.add(node);
    entry.confirmed = true;
  }

  /** A census part of broker node `node`: each listed device is connected there. */
  census(node: string, ids: readonly string[]): void {
    for (const id of ids) this.connected(id, node);
  }

  /** A `disconnect/clients` event from broker node `node`: also ends a connection on an unknown node. */
  disconnected(id: string, node: string): void {
    const entry = this.#devices.get(id);
    if (!entry) return;
    entry.nodes.delete(node);
    entry.nodes.delete(UNKNOWN_NODE);
    if (entry.nodes.size === 0) this.#devices.delete(id);
  }

  /** A rekey request from the device (acks are not counted: see kdc/acks.ts). */
  seen(id: string): void {
    const entry = this.#entry(id);
    if (entry.nodes.size === 0) entry.nodes.add(UNKNOWN_NODE);
    entry.confirmed = true;
  }

  /** Devices known from the store only (see above); ones already counted are left as they are. */
  seed(ids: Iterable<string>): void {
    for (const id of ids) if (!this.#devices.has(id)) this.#devices.set(id, { nodes: new Set([UNKNOWN_NODE]), confirmed: false, probed: false });
  }

  /** A revoked device leaves at once. */
  forget(id: string): void {
    this.#devices.delete(id);
  }

  has(id: string): boolean {
    return this.#devices.has(id);
  }

  get size(): number {
    return this.#devices.size;
  }

  /**
   * The devices a new rotation grants to. Unconfirmed devices already granted by an earlier rotation
   * without confirming since are dropped first.
   */
  rotationTargets(): string[] {
    const targets: string[] = [];
    for (const [id, entry] of this.#devices) {
      if (!entry.confirmed && entry.probed) {
        this.#devices.delete(id);
        continue;
      }
      if (!entry.confirmed) entry.probed = true;
      targets.push(id);
    }
    return targets;
  }

  #entry(id: string): Entry {
    let entry = this.#devices.get(id);
    if (!entry) {
      entry = { nodes: new Set(), confirmed: true, probed: false };
      this.#devices.set(id, entry);
    }
    return entry;
  }
}
