import { createHash } from 'node:crypto';
import t from 'tap';
import type { ServiceProcess } from './store-services-process.js';
import { until } from './store-services-process.js';
import { enroll, enrollRig, killed, newClient, urlOf, type Received } from './enroll-process.js';

// The burst: 200 devices enroll (EST simpleenroll, 10 at a time) while the provisioner is
// SIGKILLed 5 times (provisioner/crash-points.ts: each time once 2 or 3 enrollments are at one step)
// and restarted by a supervisor; clients retry whatever fails, with the same token and key. Every
// client ends with a certificate, and it is the one the store holds: none stranded, none extra.

const DEVICES = 200;
const CONCURRENCY = 10;
/** The provisioners' lives: each armed to die at a step once that many enrollments are there; the last is not armed. */
const LIVES = ['after-record:3', 'before-sign:2', 'after-sign:2', 'after-record:3', 'after-record:2'];
const LOST_AT_RECORD = 3 + 3 + 2;

t.test(`${DEVICES} enrollments, the provisioner SIGKILLed ${LIVES.length} times: every client gets the store's certificate`, async (t) => {
  const rig = await enrollRig(t);
  const ids = Array.from({ length: DEVICES }, (_, i) => `burst-${String(i).padStart(3, '0')}`);
  const tokens = await rig.register(ids);

  // The supervisor: a new provisioner whenever the current one dies, armed for its next life.
  const lives: ServiceProcess[] = [];
  let current: { url: string } | undefined;
  const supervise = async (): Promise<void> => {
    for (let life = 0; life <= LIVES.length; life++) {
      const p = rig.provisioner(LIVES[life]);
      lives.push(p);
      current = { url: await urlOf(p) };
      if (life === LIVES.length) return;
      await killed(p);
      current = undefined;
    }
  };
  const supervisor = supervise();

  let attempts = 0;
  let failedAttempts = 0;
  const got = new Map<string, Received>();
  const queue = [...ids];
  const worker = async (): Promise<void> => {
    for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
      const client = newClient(id, tokens.get(id)!);
      for (;;) {
        await until(() => current !== undefined, 60_000, 'a provisioner up');
        attempts += 1;
        try {
          got.set(id, await enroll(current!.url, rig.ca, 'simpleenroll', client, ''));
          break;
        } catch (err) {
          failedAttempts += 1;
          if (/HTTP 4\d\d/.test(String(err))) throw err; // a refusal would be a stranded device
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  await supervisor;

  const sigkilled = (await Promise.all(lives.slice(0, LIVES.length).map(killed))).filter(Boolean).length;
  t.equal(sigkilled, LIVES.length, `the provisioner was SIGKILLed ${LIVES.length} times`);
  t.equal(got.size, DEVICES, `${DEVICES} of ${DEVICES} clients received a certificate`);
  t.ok(failedAttempts >= LIVES.length, `${failedAttempts} attempts failed and were retried (of ${attempts})`);

  let matching = 0;
  let extra = 0;
  for (const id of ids) {
    const records = await rig.store.listCertificates(id);
    if (records.length !== 1) extra += records.length - 1;
    const mine = got.get(id)!;
    if (records[0]?.serial === mine.serial && records[0].fingerprint === createHash('sha256').update(mine.der).digest('hex')) matching += 1;
  }
  t.equal(matching, DEVICES, `${DEVICES} clients hold exactly the certificate the store recorded for them`);
  t.equal(extra, 0, '0 extra certificates');
  t.equal((await rig.store.countDevices()).active, DEVICES, `${DEVICES} devices active, 0 stranded`);
  const retried = lives.flatMap((p) => p.events('enroll-retried'));
  t.ok(retried.length >= LOST_AT_RECORD, `${retried.length} lost answers were sent again (at least the ${LOST_AT_RECORD} cut after recording)`);
  t.ok(retried.every((l) => l.answer === 'same-certificate'), 'each with the same certificate');
});
