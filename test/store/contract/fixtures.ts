import { randomBytes } from 'node:crypto';
import type { Test } from 'tap';
import { catalogue, isFleetkeyError, type ErrorCode, type FleetkeyError } from '../../../errors/index.js';
import type { CertificateRecord, NewDevice, Store, StoreEvent, StoreEventType } from '../../../store/types.js';

export type OpenStore = (t: Test) => Promise<Store>;

const HOUR = 3600_000;

/** A unique device id per call; `prefix` keeps test output readable. */
export function deviceId(prefix = 'dev'): string {
  return `${prefix}-${randomBytes(6).toString('hex')}`;
}

export function token(): string {
  return randomBytes(24).toString('base64url');
}

export function newDevice(id = deviceId(), expiresInMs = HOUR): NewDevice & { token: string } {
  return { id, token: token(), tokenExpiresAt: new Date(Date.now() + expiresInMs) };
}

export function serial(): string {
  return (randomBytes(16).toString('hex').replace(/^[89a-f]/, '1')).toUpperCase();
}

export function certificate(subject: string, overrides: Partial<CertificateRecord> = {}): CertificateRecord {
  const now = Date.now();
  return {
    serial: serial(),
    subject,
    spki: randomBytes(91),
    notBefore: new Date(now - 5 * 60_000),
    notAfter: new Date(now + 90 * 24 * HOUR),
    fingerprint: randomBytes(32).toString('hex'),
    issuedAt: new Date(now),
    ...overrides,
  };
}

export function kek(): Buffer {
  return randomBytes(32);
}

/** Registers `n` devices and returns them with their clear tokens. */
export async function registered(store: Store, n = 1, prefix = 'dev'): Promise<(NewDevice & { token: string })[]> {
  const devices = Array.from({ length: n }, () => newDevice(deviceId(prefix)));
  await store.registerDevices(devices, 'test');
  return devices;
}

/** Registers and enrolls a device; returns it with its first certificate. */
export async function enrolled(store: Store, prefix = 'dev'): Promise<{ id: string; cert: CertificateRecord }> {
  const [device] = await registered(store, 1, prefix);
  const cert = certificate(device!.id);
  await store.enrollDevice(device!.id, device!.token, cert);
  return { id: device!.id, cert };
}

/** Awaits the refusal and checks its code and caller-facing message; returns the error. */
export async function refuses(t: Test, action: Promise<unknown>, code: ErrorCode, what: string = code): Promise<FleetkeyError | undefined> {
  const err = await action.then(() => undefined, (e: unknown) => e);
  if (!isFleetkeyError(err, code)) {
    t.fail(`${what}: expected ${code}, got ${err instanceof Error ? `${(err as { code?: string }).code ?? ''} ${err.message}` : 'success'}`);
    return undefined;
  }
  t.equal(err.message, catalogue[code].message, `${what}: ${code} with the catalogue message`);
  return err;
}

/** Everything observable without changing anything: compared before and after a refusal. */
export async function observe(store: Store): Promise<unknown> {
  const devices = [];
  let cursor: string | undefined;
  do {
    const page = await store.listDevices(cursor === undefined ? {} : { cursor });
    devices.push(...page.devices);
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  const certificates = await Promise.all(devices.map((d) => store.listCertificates(d.id)));
  const audit = [];
  cursor = undefined;
  do {
    const page = await store.readAudit(cursor === undefined ? {} : { cursor });
    audit.push(...page.entries);
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  const epoch = await store.currentEpoch();
  const progress = [];
  for (let e = 1; e <= (epoch?.epoch ?? 0); e += 1) progress.push(await store.epochProgress(e));
  const revocations = (await store.listRevocations()).sort((a, b) => a.serial.localeCompare(b.serial));
  return { devices, certificates: certificates.map(bySerial), counts: await store.countDevices(), revocations, audit, epoch, progress };
}

/** Runs a refusal and checks that it changed nothing observable. */
export async function refusesUnchanged(t: Test, store: Store, action: () => Promise<unknown>, code: ErrorCode, what: string = code): Promise<void> {
  const before = await observe(store);
  await refuses(t, action(), code, what);
  t.same(await observe(store), before, `${what}: nothing changed`);
}

export function bySerial<T extends { serial: string }>(list: T[]): T[] {
  return [...list].sort((a, b) => a.serial.localeCompare(b.serial));
}

/**
 * Subscribes now (before the action); `within(ms)` then resolves with the first matching event,
 * or fails when none has arrived `ms` after it was called (call it once the action has returned).
 */
export function watchEvent<T extends StoreEventType>(
  store: Store, type: T, match: (e: Extract<StoreEvent, { type: T }>) => boolean = () => true,
): { within(ms?: number): Promise<Extract<StoreEvent, { type: T }>> } {
  let seen: Extract<StoreEvent, { type: T }> | undefined;
  let wake = (): void => undefined;
  const stop = store.on(type, (e) => {
    if (seen !== undefined || !match(e)) return;
    seen = e;
    wake();
  });
  return {
    within: (ms = 100) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          stop();
          reject(new Error(`no ${type} event within ${ms} ms`));
        }, ms);
        wake = () => {
          clearTimeout(timer);
          stop();
          resolve(seen!);
        };
        if (seen !== undefined) wake();
      }),
  };
}
