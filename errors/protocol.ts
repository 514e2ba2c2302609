import type { ErrorSection } from './spec.js';

/**
 * Refusals of the wire protocol library (`protocol/`): rekey grants, rekey request/ack bodies and the
 * telemetry envelope. Devices and consumers meet them locally; the HTTP status is only nominal.
 */
export const protocolErrors = {
  PROTOCOL_INPUT_INVALID: { status: 400, message: 'A value given to the protocol library is invalid.' },
  REKEY_MESSAGE_INVALID: { status: 400, message: 'The rekey request or acknowledgement body is not valid.' },
  // Grants (protocol/grant-verify.ts), in the order a device checks them.
  GRANT_MALFORMED: { status: 400, message: 'The grant is not a well-formed fleetkey grant.' },
  GRANT_SIGNER_UNTRUSTED: { status: 400, message: 'The grant signer\'s certificate chain does not lead to the fleet root.' },
  GRANT_SIGNER_NOT_KDC: { status: 400, message: 'The grant is not signed with a key distribution center certificate.' },
  GRANT_SIGNATURE_INVALID: { status: 400, message: 'The grant signature does not verify.' },
  GRANT_SUBJECT_MISMATCH: { status: 400, message: 'The grant is addressed to someone else.' },
  GRANT_EXPIRED: { status: 400, message: 'The grant has expired (or this clock, or the KDC\'s, is wrong).' },
  GRANT_NOT_YET_VALID: {
    status: 400,
    message: 'The grant was issued further in the future than the clock leeway allows: this clock or the KDC\'s is wrong.',
  },
  GRANT_WRONG_RECIPIENT: { status: 400, message: 'The grant\'s key is encrypted to a different key than this one.' },
  GRANT_KEY_UNWRAP_FAILED: { status: 400, message: 'The grant\'s key could not be decrypted.' },
  // Acceptance rules (protocol/device-keyring.ts, protocol/consumer-keyring.ts).
  GRANT_UNSOLICITED: { status: 400, message: 'The grant does not answer the latest rekey request.' },
  GRANT_NOT_NEWER: { status: 400, message: 'The grant is not newer than the key already held.' },
  // Telemetry envelope (protocol/envelope.ts).
  ENVELOPE_TOO_SHORT: { status: 400, message: 'The telemetry envelope is shorter than its header and tag.' },
  ENVELOPE_VERSION_UNKNOWN: { status: 400, message: 'The telemetry envelope version is not supported.' },
  ENVELOPE_AUTH_FAILED: { status: 400, message: 'The telemetry envelope could not be authenticated.' },
  ENVELOPE_NO_KEY: { status: 400, message: 'No session key is installed yet; request a grant first.' },
  ENVELOPE_SEQ_EXHAUSTED: { status: 400, message: 'The session key has used every sequence number; request a new grant.' },
} as const satisfies ErrorSection;
