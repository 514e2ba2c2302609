import type { ErrorSection } from './spec.js';

/**
 * What a simulated device (`device-sim/`, `fleetkey sim`) reports when it stops or fails a step.
 * These are the device's own view: refusals by the provisioner or broker keep their own codes
 * (RATE_LIMITED, ENROLLMENT_REFUSED, …) in the report; these name what the device saw on the wire.
 */
export const simErrors = {
  SIM_DEVICE_REVOKED: {
    status: 403,
    message: 'The broker refused the device (CONNACK 5, not authorized, or a TLS "certificate revoked" alert): it is revoked and has stopped.',
  },
  SIM_CONNECT_REFUSED: { status: 403, message: 'The broker refused the connection with a CONNACK code other than "not authorized"; the device stopped.' },
  SIM_CONNECT_FAILED: { status: 503, message: 'The connection to the broker failed or was lost; the device retries with backoff.' },
  SIM_BROKER_BUSY: {
    status: 503,
    message: 'The broker answered CONNACK 3 (server unavailable: its store is away or it is overloaded); the device retries with backoff.',
  },
  SIM_CERT_EXPIRED: { status: 403, message: 'The device certificate expired before it could be renewed; the device stopped.' },
  SIM_EST_FAILED: { status: 502, message: 'The EST server could not be reached or answered something the device does not understand.' },
  SIM_BUNDLE_INVALID: { status: 400, message: 'A device bundle directory lacks key.pem, cert.pem or chain.pem, or they do not belong together.' },
  SIM_NO_GRANT: { status: 504, message: 'No grant answered the device\'s rekey request in time; it asks again.' },
  SIM_CLOCK_SKEW: {
    status: 502,
    message: 'The provisioner\'s clock (HTTP Date) or the KDC\'s (a grant\'s iat) is further from the device\'s than the clock leeway: the device\'s clock is the likely cause.',
  },
  SIM_NOT_READY: { status: 504, message: 'The device was not connected with a session key when the run ended.' },
} as const satisfies ErrorSection;
