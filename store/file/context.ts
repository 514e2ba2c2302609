import type { StoreEvent, AuditEntry, AuditInput } from '../types.js';
import { auditId, type Op, type State } from './state.js';

/** What the operation modules of the file store work with. */
export interface FileContext {
  readonly state: State;
  now(): Date;
  /**
   * Applies the ops to memory at once (so the next call sees them) and journals them as one record.
   * Resolves once that record is fsynced; the events are delivered just before.
   * Callers validate synchronously before calling, so check-then-commit is atomic.
   */
  commit(ops: Op[], events?: StoreEvent[]): Promise<void>;
  /** Resolves with `value` once everything it may reflect is durable. */
  settle<T>(value: T): Promise<T>;
}

/** Audit entries for `inputs`, numbered after the last one in the state (not yet applied). */
export function auditEntries(state: State, time: Date, inputs: readonly AuditInput[]): AuditEntry[] {
  let seq = state.audit.length;
  return inputs.map(({ actor, action, subject, detail }) => ({
    id: auditId((seq += 1)),
    time,
    actor,
    action,
    subject,
    ...(detail === undefined ? {} : { detail }),
  }));
}
