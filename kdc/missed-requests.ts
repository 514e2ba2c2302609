import { rotationRequestAudit } from '../store/records.js';
import type { Store } from '../store/types.js';

export interface MissedRotationRequest {
  readonly requestedBy: string;
  readonly switchAfterSeconds: number | undefined;
}

/**
 * A rotation the provisioner accepted for epoch `current + 1` that no KDC has carried out: its
 * `rotate-requested` went out while no KDC was running or while this one's event feed was cut (Redis
 * pub/sub is at most once). The provisioner's audit entry for that epoch is the record of it.
 */
export async function missedRotationRequest(store: Store, current: number): Promise<MissedRotationRequest | undefined> {
  const { entries } = await store.readAudit({ subject: rotationRequestAudit.subject(current + 1), limit: 100 });
  const asked = entries.filter((e) => e.action === rotationRequestAudit.action).at(-1);
  if (asked === undefined) return undefined;
  const switchAfter = asked.detail?.switchAfterSeconds;
  return { requestedBy: asked.actor, switchAfterSeconds: typeof switchAfter === 'number' ? switchAfter : undefined };
}
