/** One sample of a broker's /metrics, e.g. `fleetkey_broker_kicks_total{reason="drain-timeout"}`; 0 when absent. */
export async function metricValue(metricsUrl: string, sample: string): Promise<number> {
  const body = await (await fetch(metricsUrl)).text();
  const line = body.split('\n').find((l) => l.startsWith(`${sample} `));
  return line === undefined ? 0 : Number(line.slice(sample.length + 1));
}
