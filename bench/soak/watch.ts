/**
 * What the soak reads from the brokers while it runs: RSS (VmRSS each second, and VmHWM, the kernel's
 * own peak, so a spike between samples is not missed) and the event-loop lag p99 from the broker's
 * Prometheus metrics. prom-client resets its lag histogram at every scrape, so each scrape (every 2 s)
 * is the p99 of that window; the soak reports the median and the worst window.
 */
import { readFileSync } from 'node:fs';
import { scrape } from '../faults/cluster.js';
import type { SoakBroker } from './services.js';

const LAG_P99 = 'fleetkey_broker_process_nodejs_eventloop_lag_p99_seconds';

export interface BrokerWatch {
  /** Largest RSS seen over every process of this broker (restarts included), KiB. */
  peakRssKb(): number;
  rssKb(): number;
  /** Lag p99 of each 2 s window, ms, with the time of the scrape. */
  readonly lag: { at: number; p99Ms: number }[];
  stop(): void;
}

function status(pid: number): { rss: number; hwm: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
    return { rss: field('VmRSS'), hwm: field('VmHWM') };
  } catch {
    return undefined; // between a SIGKILL and the restart
  }
}

export function watchBroker(broker: SoakBroker): BrokerWatch {
  let peak = 0;
  let last = 0;
  const lag: { at: number; p99Ms: number }[] = [];
  const sample = () => {
    const s = status(broker.pid());
    if (!s) return;
    last = s.rss;
    peak = Math.max(peak, s.rss, s.hwm);
  };
  const rss = setInterval(sample, 1000);
  const scrapes = setInterval(() => {
    void scrape(broker.metricsUrl).then((m) => lag.push({ at: Date.now(), p99Ms: m(LAG_P99) * 1000 }), () => undefined);
  }, 2000);
  return {
    peakRssKb: () => (sample(), peak),
    rssKb: () => (sample(), last),
    lag,
    stop() {
      clearInterval(rss);
      clearInterval(scrapes);
    },
  };
}
