import t from 'tap';
import { alive } from './store-services-process.js';
import { enroll, enrollRig, killed, newClient, proveWorking, urlOf, type Client, type EnrollMethod, type Received } from './enroll-process.js';

// A provisioner child SIGKILLed at each step of a first enrollment (before signing, after signing,
// after recording: provisioner/crash-points.ts; mid-answer: killed when the answer's headers reach
// the client, which drops it), for each way to enroll (EST simpleenroll, EST serverkeygen, REST
// factory bundle). The same client retries against a restarted provisioner: simpleenroll gets the
// same certificate, byte for byte, as the store recorded; serverkeygen and bundle get a new key whose
// certificate works (a pending successor, first used by a re-enrollment). Nobody is stranded.

const STEPS = ['before-sign', 'after-sign', 'after-record', 'mid-answer'] as const;
const METHODS: readonly EnrollMethod[] = ['simpleenroll', 'serverkeygen', 'bundle'];

interface Case {
  readonly step: (typeof STEPS)[number];
  readonly method: EnrollMethod;
  readonly client: Client;
}

t.test('SIGKILL at every step of every first enrollment, then a retry: same certificate or a working successor, none stranded', async (t) => {
  const rig = await enrollRig(t);
  const cases: Case[] = [];
  for (const step of STEPS) for (const method of METHODS) cases.push({ step, method, client: newClient(`${step}-${method}`, '') });
  const tokens = await rig.register(cases.map((c) => c.client.id));
  const clients = cases.map((c) => ({ ...c, client: { ...c.client, token: tokens.get(c.client.id)! } }));

  // One provisioner per step, armed to die once all three methods' requests are at that step; the
  // mid-answer one is killed once all three answers' headers reached their clients (who dropped them).
  // The first start of the data dir goes alone (it writes the admin token and the store identity
  // record): four first starts at once exited 1 once in CI, without a line on stderr.
  const start = (step: (typeof STEPS)[number]) => rig.provisioner(step === 'mid-answer' ? undefined : `${step}:${METHODS.length}`);
  const first = start(STEPS[0]);
  await first.started;
  const armed = new Map([[STEPS[0], first], ...STEPS.slice(1).map((step) => [step, start(step)] as const)]);
  await Promise.all([...armed.values()].map((p) => p.started));
  const admin = rig.adminToken();
  let dropped = 0;
  const lost = await Promise.all(clients.map(async (c) => {
    const p = armed.get(c.step)!;
    const onHeaders = () => {
      dropped += 1;
      if (dropped === METHODS.length) p.child.kill('SIGKILL');
    };
    const outcome = await enroll(await urlOf(p), rig.ca, c.method, c.client, admin, c.step === 'mid-answer' ? { onHeaders } : {}).then(() => 'answered', () => 'lost');
    return outcome;
  }));
  const sigkilled = await Promise.all([...armed.values()].map(killed));
  t.equal(lost.filter((l) => l === 'lost').length, clients.length, `all ${clients.length} first answers lost`);
  t.equal(sigkilled.filter(Boolean).length, STEPS.length, `${STEPS.length} provisioners SIGKILLed, one at each step`);

  const statusOf = async (c: Case) => (await rig.store.getDevice(c.client.id))?.status;
  for (const c of clients) {
    const recorded = c.step === 'after-record' || c.step === 'mid-answer';
    t.equal(await statusOf(c), recorded ? 'active' : 'registered', `${c.step}/${c.method}: ${recorded ? 'enrolled, answer never received' : 'nothing recorded'}`);
  }
  const stranded = [];
  for (const c of clients) if ((await statusOf(c)) === 'active') stranded.push(c.client.id);
  t.equal(stranded.length, 6, 'before the fix these 6 would be stranded: active, with a certificate the client never got');

  // The restarted provisioner: every client retries with what it had (same token; simpleenroll: same key).
  const restarted = rig.provisioner();
  const url = await urlOf(restarted);
  const got = new Map<string, Received>();
  for (const c of clients) got.set(c.client.id, await enroll(url, rig.ca, c.method, c.client, admin));
  t.equal(got.size, clients.length, `${clients.length} retries answered 200`);

  let sameBytes = 0;
  let successors = 0;
  let working = 0;
  for (const c of clients) {
    const mine = got.get(c.client.id)!;
    const records = await rig.store.listCertificates(c.client.id);
    const recorded = c.step === 'after-record' || c.step === 'mid-answer';
    if (c.method === 'simpleenroll') {
      t.equal(records.length, 1, `${c.step}/${c.method}: one certificate, no extra`);
      t.equal(records[0]?.serial, mine.serial, `${c.step}/${c.method}: the one the store recorded`);
      const enrollment = await rig.store.enrollmentOf(c.client.id, c.client.token);
      if (enrollment?.der?.equals(mine.der)) sameBytes += 1;
    } else if (recorded) {
      t.equal(records.length, 2, `${c.step}/${c.method}: the lost one and the retry's`);
      const retry = records.find((r) => r.serial === mine.serial);
      t.ok(retry?.supersedes !== undefined && records.some((r) => r.serial === retry.supersedes), `${c.step}/${c.method}: a pending successor of the lost one`);
      successors += 1;
    } else {
      t.equal(records.length, 1, `${c.step}/${c.method}: a first enrollment on retry`);
      t.equal(records[0]?.serial, mine.serial);
    }
    if (await proveWorking(url, rig.ca, rig, c.client.id, mine)) working += 1;
  }
  t.equal(sameBytes, 4, 'simpleenroll: 4 of 4 clients hold the certificate the store kept, byte for byte (2 of them sent again)');
  t.equal(successors, 4, 'serverkeygen/bundle: 4 retries after a recorded enrollment got a pending successor');
  t.equal(working, clients.length, `${clients.length} of ${clients.length} received certificates work (re-enrollment over mTLS, then the certificate in use)`);
  const revoked = new Set((await rig.store.listRevocations()).map((r) => r.serial));
  t.equal(revoked.size, 4, 'exactly the 4 lost server-made certificates were revoked (superseded at first use of their successor)');
  t.equal((await rig.store.countDevices()).active, clients.length, `${clients.length} devices active`);

  // A different key with the consumed token is still refused.
  const other = newClient(clients[0]!.client.id, clients[0]!.client.token);
  await t.rejects(enroll(url, rig.ca, 'simpleenroll', other, admin), /HTTP 401 .*ENROLLMENT_REFUSED/, 'another key with a used token: 401 ENROLLMENT_REFUSED');
  const answers = restarted.events('enroll-retried').map((l) => l.answer);
  t.equal(answers.filter((a) => a === 'same-certificate').length, 2, 'enroll-retried logged for the 2 simpleenroll retries of a recorded enrollment');
  t.equal(answers.filter((a) => a === 'successor').length, 4, 'and for the 4 successors');
  t.ok(alive(restarted), 'the restarted provisioner is still up');
});
