import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';

/**
 * V8 CPU profiles of chosen stretches of this process through the inspector: start/stop may repeat,
 * and `write` saves the longest stretch (one EST round, one rotation) as a .cpuprofile for Chrome DevTools.
 */
export async function cpuProfiler(path: string) {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  let best: { profile: { endTime: number; startTime: number } } | undefined;
  return {
    async start() {
      await session.post('Profiler.start');
    },
    async stop() {
      const taken = (await session.post('Profiler.stop')) as unknown as { profile: { endTime: number; startTime: number } };
      if (!best || taken.profile.endTime - taken.profile.startTime > best.profile.endTime - best.profile.startTime) best = taken;
    },
    async write() {
      if (best) writeFileSync(path, JSON.stringify(best.profile));
      session.disconnect();
      console.error(`CPU profile of the longest profiled stretch written to ${path}`);
    },
  };
}
