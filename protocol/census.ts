/**
 * The presence census: each broker node's list of the devices connected to it, for a KDC that has
 * just (re)started and has seen none of their connects. A broker publishes its census, in parts of at
 * most CENSUS_PART_SIZE ids, on `$SYS/<node>/fleetkey/census` whenever a KDC subscribes to that
 * filter (aedes announces every SUBSCRIBE on `$SYS/<node>/new/subscribes`, across the cluster), so
 * the census arrives after the KDC can hear it. Published at QoS 0: a census is news only to the KDC
 * that asked, now; never queued for a KDC that is offline. Services only: devices can neither read
 * nor publish `$SYS` topics.
 */

/** What a KDC subscribes to; a broker answers a subscription to it with its census. */
export const CENSUS_FILTER = '$SYS/+/fleetkey/census';

export const CENSUS_PART_SIZE = 2000;

export function censusTopic(node: string): string {
  return `$SYS/${node}/fleetkey/census`;
}

export interface CensusPart {
  readonly v: 1;
  /** The broker node (aedes id) the devices are connected to. */
  readonly node: string;
  /** Device ids connected to `node` when the census was taken. */
  readonly devices: readonly string[];
  /** 1-based part number, and how many parts this census has. */
  readonly part: number;
  readonly parts: number;
  /** When the census was taken (ISO 8601). */
  readonly at: string;
}

/** The census of `node` as the payloads to publish, in order (one part, empty, when no device is connected). */
export function encodeCensus(node: string, devices: readonly string[], at: Date): Buffer[] {
  const parts = Math.max(1, Math.ceil(devices.length / CENSUS_PART_SIZE));
  const out: Buffer[] = [];
  for (let i = 0; i < parts; i++) {
    const part: CensusPart = { v: 1, node, devices: devices.slice(i * CENSUS_PART_SIZE, (i + 1) * CENSUS_PART_SIZE), part: i + 1, parts, at: at.toISOString() };
    out.push(Buffer.from(JSON.stringify(part)));
  }
  return out;
}

/** A census part from `topic` and `payload`, or undefined for any other topic or a malformed part. */
export function parseCensus(topic: string, payload: Buffer): CensusPart | undefined {
  const levels = topic.split('/');
  if (levels.length !== 4 || levels[0] !== '$SYS' || levels[2] !== 'fleetkey' || levels[3] !== 'census') return undefined;
  let parsed: Partial<CensusPart>;
  try {
    parsed = JSON.parse(payload.toString('utf8')) as Partial<CensusPart>;
  } catch {
    return undefined;
  }
  const { v, node, devices, part, parts, at } = parsed;
  if (v !== 1 || node !== levels[1] || !Array.isArray(devices) || !devices.every((d) => typeof d === 'string')) return undefined;
  if (!Number.isInteger(part) || !Number.isInteger(parts) || part! < 1 || part! > parts! || typeof at !== 'string') return undefined;
  return { v, node: node!, devices, part: part!, parts: parts!, at };
}
