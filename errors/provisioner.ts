import type { ErrorSection } from './spec.js';

/**
 * Refusals of the provisioner (`provisioner/`: EST and the REST API) and of the CLI commands that call
 * its REST API. Enrollment refusals are deliberately vague: the cause goes to the log and the audit log.
 */
export const provisionerErrors = {
  // EST (RFC 7030) authentication
  ENROLL_AUTH_REQUIRED: {
    status: 401,
    message: 'Enrollment needs HTTP Basic credentials: the device id as user name and its enrollment token as password.',
  },
  REENROLL_CERT_REQUIRED: {
    status: 401,
    message: 'Re-enrollment needs the device\'s current certificate, presented over mutual TLS.',
  },
  REENROLL_REFUSED: { status: 403, message: 'Re-enrollment was refused.' },
  RATE_LIMITED: { status: 429, message: 'Too many requests; retry after the number of seconds in Retry-After.' },
  // REST API
  API_AUTH_REQUIRED: { status: 401, message: 'This endpoint needs an API token: send "Authorization: Bearer <token>".' },
  API_TOKEN_INVALID: { status: 401, message: 'The API token is not valid.' },
  API_ROLE_FORBIDDEN: { status: 403, message: 'The API token\'s role does not allow this.' },
  REQUEST_INVALID: { status: 400, message: 'The request\'s parameters or body are not valid for this endpoint.' },
  MEDIA_TYPE_UNSUPPORTED: { status: 415, message: 'The request body has an unsupported content type.' },
  ROUTE_NOT_FOUND: { status: 404, message: 'No such endpoint.' },
  PROVISIONER_NOT_READY: { status: 503, message: 'The provisioner is not ready: the store or the CRL is unavailable.' },
  // The CLI as an API client
  API_URL_MISSING: {
    status: 400,
    message: 'No provisioner URL: pass --url, set FLEETKEY_URL, or run `fleetkey provisioner` with this data directory.',
  },
  API_TOKEN_MISSING: {
    status: 400,
    message: 'No API token: pass --token, set FLEETKEY_TOKEN, or use the data directory the provisioner wrote its admin token to.',
  },
  API_UNREACHABLE: { status: 503, message: 'The provisioner could not be reached.' },
  API_RESPONSE_INVALID: { status: 502, message: 'The provisioner answered with something this command does not understand.' },
  CLI_INPUT_INVALID: { status: 400, message: 'The command\'s arguments or input file are not valid.' },
} as const satisfies ErrorSection;
