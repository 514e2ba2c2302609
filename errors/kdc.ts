import type { ErrorSection } from './spec.js';

/**
 * Refusals of the key distribution center (`kdc/`), the decrypting consumer (`consumer/`) and the
 * commands that drive them (`fleetkey kdc`, `tail`, `rotate`). A device or consumer never sees these
 * texts — a refused rekey request simply gets no grant — they go to the log, the audit trail and the CLI.
 */
export const kdcErrors = {
  // Rekey requests (kdc/issue-grants.ts, kdc/consumers.ts), each also a `kdc.grant.refused` audit entry.
  KDC_DEVICE_UNKNOWN: { status: 404, message: 'No device with this id is registered; no grant was issued.' },
  KDC_DEVICE_REVOKED: { status: 403, message: 'The device is revoked; no grant was issued.' },
  KDC_NO_CERTIFICATE: { status: 409, message: 'The device has no current, unrevoked certificate to encrypt a grant to.' },
  KDC_CONSUMER_UNKNOWN: { status: 403, message: 'No current consumer certificate is known for this client id; no epoch grant was issued.' },
  KDC_REQUEST_RATE_LIMITED: { status: 429, message: 'Rekey requests from this client come too fast; the request was dropped.' },
  // Epochs and rotation (kdc/epochs.ts, kdc/rotation.ts).
  KDC_EPOCH_SECRET_MISSING: { status: 500, message: 'The epoch secret is gone (past retention) or unreadable.' },
  KDC_GRANT_FAILED: { status: 500, message: 'A grant could not be built.' },
  // Service setup (kdc/options.ts, kdc/signer.ts, kdc/mqtt.ts).
  KDC_SIGNER_INVALID: { status: 500, message: 'The KDC certificate or key cannot sign grants (role kdc, P-256, matching key).' },
  KDC_BROKER_UNAVAILABLE: { status: 503, message: 'The MQTT broker could not be reached or refused the connection.' },
  KDC_CLOSED: { status: 503, message: 'The key distribution center is closed.' },
  // The decrypting consumer (consumer/) and `fleetkey rotate --wait`.
  CONSUMER_NO_EPOCH_GRANT: { status: 504, message: 'No epoch grant arrived from the key distribution center in time.' },
  ROTATION_INCOMPLETE: { status: 504, message: 'Some devices did not acknowledge the new epoch in time.' },
} as const satisfies ErrorSection;
