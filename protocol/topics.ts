/**
 * The MQTT topic layout (DESIGN.md "Broker" and "Session keys"): the one place topic strings are built
 * and parsed. Device and consumer ids are single topic levels, so they never contain `/`, `+`, `#`.
 */

export const deviceTopics = {
  telemetry: (deviceId: string) => `devices/${deviceId}/telemetry`,
  rekey: (deviceId: string) => `devices/${deviceId}/rekey`,
  rekeyRequest: (deviceId: string) => `devices/${deviceId}/rekey/request`,
  rekeyAck: (deviceId: string) => `devices/${deviceId}/rekey/ack`,
  command: (deviceId: string, name: string) => `devices/${deviceId}/cmd/${name}`,
} as const;

export const serviceTopics = {
  rekey: (clientId: string) => `services/${clientId}/rekey`,
  rekeyRequest: (clientId: string) => `services/${clientId}/rekey/request`,
  rekeyAck: (clientId: string) => `services/${clientId}/rekey/ack`,
} as const;

/** Subscription filters the KDC and consumers use. */
export const filters = {
  allTelemetry: 'devices/+/telemetry',
  deviceRekeyRequests: 'devices/+/rekey/request',
  deviceRekeyAcks: 'devices/+/rekey/ack',
  serviceRekeyRequests: 'services/+/rekey/request',
  serviceRekeyAcks: 'services/+/rekey/ack',
} as const;

export type TopicKind = 'telemetry' | 'rekey' | 'rekey-request' | 'rekey-ack' | 'command';

export interface ParsedTopic {
  readonly scope: 'device' | 'service';
  /** The device id, or the service's client id. */
  readonly owner: string;
  readonly kind: TopicKind;
}

/** Reads a concrete topic (no wildcards) of the layout; undefined for anything else. */
export function parseTopic(topic: string): ParsedTopic | undefined {
  const levels = topic.split('/');
  const [root, owner, ...rest] = levels;
  if (owner === undefined || owner === '' || levels.some(isWildcardOrEmpty)) return undefined;
  const tail = rest.join('/');
  if (root === 'devices') {
    if (tail === 'telemetry') return { scope: 'device', owner, kind: 'telemetry' };
    if (rest[0] === 'cmd' && rest.length >= 2) return { scope: 'device', owner, kind: 'command' };
  } else if (root !== 'services') {
    return undefined;
  }
  const scope = root === 'devices' ? 'device' : 'service';
  if (tail === 'rekey') return { scope, owner, kind: 'rekey' };
  if (tail === 'rekey/request') return { scope, owner, kind: 'rekey-request' };
  if (tail === 'rekey/ack') return { scope, owner, kind: 'rekey-ack' };
  return undefined;
}

function isWildcardOrEmpty(level: string): boolean {
  return level === '' || level.includes('+') || level.includes('#');
}
