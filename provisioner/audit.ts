import type { Logger } from 'pino';
import { isFleetkeyError } from '../errors/index.js';
import type { Store } from '../store/types.js';

/** One refused operation on a device, for the audit log. */
export interface RefusalEntry {
  readonly actor: string;
  /** Dotted, ending in `.refused`: `enroll.refused`, `device.revoke.refused`… */
  readonly action: string;
  /** The device concerned. */
  readonly subject: string;
  readonly code: string;
  readonly detail?: Readonly<Record<string, unknown>>;
}

/**
 * Writes a refusal to the audit log. It never throws: a refusal is answered even when the store
 * cannot take the entry (which is then in the service log instead).
 */
export async function auditRefusal(store: Store, log: Logger, entry: RefusalEntry): Promise<void> {
  try {
    await store.appendAudit({ actor: entry.actor, action: entry.action, subject: entry.subject, detail: { code: entry.code, ...entry.detail } });
  } catch (err) {
    log.error({ event: 'audit-failed', ...entry, err }, 'could not write a refusal to the audit log');
  }
}

/**
 * Runs an operation on a device; a refusal (a FleetkeyError below 500) is audited, then rethrown.
 * Faults (5xx) are the service log's business, and most likely the store's own.
 */
export async function auditedRefusals<T>(
  store: Store, log: Logger, what: { actor: string; action: string; subject: string }, run: () => Promise<T>,
): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (isFleetkeyError(err) && err.status < 500) {
      await auditRefusal(store, log, { ...what, action: `${what.action}.refused`, code: err.code, detail: err.detail === undefined ? {} : { reason: err.detail.slice(0, 200) } });
    }
    throw err;
  }
}
