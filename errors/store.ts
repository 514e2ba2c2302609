import type { ErrorSection } from './spec.js';

/** Refusals of the state store. */
export const storeErrors = {
  KEK_INVALID: { status: 500, message: 'The key-encryption key is not a 32-byte key.' },
  EPOCH_SECRET_UNREADABLE: { status: 500, message: 'An epoch secret could not be opened with this key-encryption key.' },
  STORE_UNAVAILABLE: { status: 503, message: 'The state store is unavailable; try again shortly.' },
  STORE_LOCKED: { status: 503, message: 'The data directory is in use by another fleetkey process.' },
  STORE_CORRUPT: { status: 500, message: 'The state store\'s files are damaged.' },
  STORE_STATE_LOST: { status: 503, message: 'The state store lost its state (it is empty or was replaced); restore it with `fleetkey store restore`.' },
  STORE_IDENTITY_MISMATCH: { status: 500, message: 'The state store belongs to another fleet or another store than this data directory records.' },
  STORE_NOT_EMPTY: { status: 409, message: 'The target store already holds state; restore with --force to replace it.' },
  BACKUP_INVALID: { status: 400, message: 'The backup file is missing, damaged or not a fleetkey backup.' },
  STORE_URL_INVALID: { status: 500, message: 'The store URL is not a supported file: or redis:// URL.' },
  STORE_INPUT_INVALID: { status: 400, message: 'A value given to the store is invalid.' },
  CURSOR_INVALID: { status: 400, message: 'The page cursor is invalid.' },
  DEVICE_EXISTS: { status: 409, message: 'A device with this id is already registered.' },
  DEVICE_NOT_FOUND: { status: 404, message: 'No device with this id is registered.' },
  DEVICE_STATE_CONFLICT: { status: 409, message: 'The device is not in a state that allows this.' },
  ENROLLMENT_REFUSED: { status: 401, message: 'Enrollment was refused.' },
  CERTIFICATE_EXISTS: { status: 409, message: 'A certificate with this serial was recorded before.' },
  CERTIFICATE_NOT_FOUND: { status: 404, message: 'No certificate with this serial was issued.' },
  CERTIFICATE_ALREADY_REVOKED: { status: 409, message: 'The certificate is already revoked.' },
  EPOCH_NOT_FOUND: { status: 404, message: 'No such key epoch.' },
  API_TOKEN_EXISTS: { status: 409, message: 'An API token with this id or secret exists.' },
  API_TOKEN_NOT_FOUND: { status: 404, message: 'No such API token.' },
} as const satisfies ErrorSection;
