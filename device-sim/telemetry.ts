import type { MqttClient } from 'mqtt';
import type { FleetCounters } from './stats.js';

/**
 * What a simulated device sends and how it keeps what the broker has not acknowledged yet.
 * docs/protocol.md §6: never seal two envelopes with one (key, seq), not even after a failed
 * publish — republish the same bytes instead. So a sealed envelope stays in the outbox until its
 * PUBACK and goes out again, unchanged, on the next connection; the consumer counts any copy that
 * did arrive twice as a duplicate.
 */

/** A small JSON reading: temperature (°C), battery (%) and the device's reading number. */
export function readingPayload(phase: number, seq: number): Buffer {
  const temperature = Math.round((21 + 4 * Math.sin(seq / 30 + phase)) * 10) / 10;
  const battery = Math.max(5, 100 - Math.floor(seq / 600));
  return Buffer.from(JSON.stringify({ temperature, battery, seq }), 'utf8');
}

/** The reading number of a payload readingPayload made (tests and benches read it back). */
export function readingSeq(payload: Buffer): number | undefined {
  try {
    const value = (JSON.parse(payload.toString('utf8')) as { seq?: unknown }).seq;
    return typeof value === 'number' ? value : undefined;
  } catch {
    return undefined;
  }
}

interface Entry {
  readonly bytes: Buffer;
  acked: boolean;
}

export class Outbox {
  readonly #unacked = new Set<Entry>();

  constructor(
    private readonly topic: string,
    private readonly qos: 0 | 1,
    private readonly max: number,
    private readonly counters: FleetCounters,
  ) {}

  get size(): number {
    return this.#unacked.size;
  }

  /** Publishes a freshly sealed envelope; with QoS 1 it is kept until acknowledged. */
  send(client: MqttClient, bytes: Buffer): void {
    const entry: Entry = { bytes, acked: false };
    if (this.qos === 1) {
      this.#unacked.add(entry);
      if (this.#unacked.size > this.max) this.#dropOldest();
    }
    this.#publish(client, entry);
  }

  /** After a reconnect: everything not yet acknowledged, same bytes, in the order it was sealed. */
  resend(client: MqttClient): void {
    for (const entry of [...this.#unacked]) {
      this.counters.republished++;
      this.#publish(client, entry);
    }
  }

  #publish(client: MqttClient, entry: Entry): void {
    client.publish(this.topic, entry.bytes, { qos: this.qos }, (err) => {
      // A callback with an error means the connection went first; the entry stays for resend().
      if (err || entry.acked) return;
      entry.acked = true;
      this.#unacked.delete(entry);
      this.counters.sent++;
    });
  }

  #dropOldest(): void {
    const [oldest] = this.#unacked;
    if (!oldest) return;
    this.#unacked.delete(oldest);
    oldest.acked = true; // a late PUBACK for it is no longer counted
    this.counters.dropped++;
  }
}
