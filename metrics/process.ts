import { collectDefaultMetrics, type Registry } from 'prom-client';

/**
 * How often the event-loop delay histogram samples, in ms. prom-client's default of 10 ms keeps a timer
 * that wakes the process about 200 times a second even when it has nothing to do: an idle broker used
 * 17 ms of CPU per second that way, against 4 ms with 100 ms (docs/operations.md).
 */
export const EVENT_LOOP_SAMPLE_MS = 100;

/** prom-client's process metrics (CPU, memory, GC, handles, event-loop delay) under `prefix`. */
export function collectProcessMetrics(registry: Registry, prefix: string): void {
  collectDefaultMetrics({ register: registry, prefix, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
}
