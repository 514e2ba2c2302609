import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import t from 'tap';
import { openFileStore } from '../../store/file/index.js';
import { tempDir } from '../helpers/tmp.js';
import { Acknowledged, checkConsistent } from './fixtures/crash-check.js';
import type { CrashLine } from './fixtures/crash-plan.js';
import { exited, onLine, spawnTs } from '../helpers/spawn-ts.js';

const ROUNDS = Number(process.env.FLEETKEY_CRASH_ROUNDS ?? 30);

/** Collects the store's log events, to count the torn tails the loader discarded. */
function logEvents(): { logger: pino.Logger; events: string[] } {
  const events: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      events.push((JSON.parse(chunk.toString()) as { event?: string }).event ?? '');
      done();
    },
  });
  return { logger: pino({ level: 'info' }, sink), events };
}

t.test(`SIGKILL at ${ROUNDS} random points leaves the previous or the next state, never a torn one`, async (t) => {
  const dir = tempDir(t, 'fleetkey-crash-');
  const kek = randomBytes(32);
  const acked = new Acknowledged();
  let iterations = 0;
  let torn = 0;
  for (let round = 0; round < ROUNDS; round += 1) {
    const child = spawnTs(t, 'test/store/fixtures/crash-writer.ts', [dir, kek.toString('hex'), String(round)]);
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const ready = new Promise<void>((resolve) => {
      onLine(child, (text) => {
        const line = JSON.parse(text) as CrashLine;
        if ('ready' in line) resolve();
        else if (!('rotated' in line)) iterations += 1;
        acked.take(round, line);
      });
    });
    const ended = exited(child);
    await Promise.race([ready, ended]);
    if (child.exitCode !== null) {
      t.fail(`round ${round}: the writer died on its own: ${stderr}`);
      break;
    }
    await new Promise((r) => setTimeout(r, Math.random() * 150));
    child.kill('SIGKILL');
    t.equal((await ended).signal, 'SIGKILL', `round ${round}: killed mid-write`);

    const { logger, events } = logEvents();
    const store = await openFileStore(dir, { logger });
    try {
      t.same(await checkConsistent(store, acked, round + 1, kek), [], `round ${round}: reopened consistent`);
    } finally {
      await store.close();
    }
    if (events.includes('store-journal-truncated')) torn += 1;
  }
  const size = (name: string) => statSync(join(dir, name), { throwIfNoEntry: false })?.size ?? 0;
  t.comment(`${ROUNDS} kills, ${iterations} acknowledged iterations, ${torn} torn journal tails discarded; snapshot ${size('store.snapshot')} B, journal ${size('store.journal')} B`);
});
