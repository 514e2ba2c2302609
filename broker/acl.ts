import type { Principal } from '../protocol/principal.js';
import { CENSUS_FILTER } from '../protocol/census.js';
import { parseTopic } from '../protocol/topics.js';

/**
 * The ACL of DESIGN.md, deny by default. `{self}` stands for the principal's own id (device id, or the
 * service's client id). Patterns use MQTT wildcards; a request is allowed only if every topic it can reach
 * lies inside one allowed pattern, compared level by level (never by string prefix).
 */
interface Rules {
  readonly publish: readonly string[];
  readonly subscribe: readonly string[];
}

const PRESENCE = ['$SYS/+/new/clients', '$SYS/+/disconnect/clients'];

const table = {
  device: {
    publish: ['devices/{self}/telemetry', 'devices/{self}/rekey/request', 'devices/{self}/rekey/ack'],
    subscribe: ['devices/{self}/rekey', 'devices/{self}/cmd/#'],
  },
  kdc: {
    publish: ['devices/+/rekey', 'services/+/rekey'],
    subscribe: ['devices/+/rekey/request', 'devices/+/rekey/ack', 'services/+/rekey/request', 'services/+/rekey/ack', ...PRESENCE, CENSUS_FILTER],
  },
  consumer: {
    publish: ['services/{self}/rekey/request', 'services/{self}/rekey/ack'],
    subscribe: ['devices/+/telemetry', 'services/{self}/rekey'],
  },
  operator: {
    publish: ['devices/+/cmd/#'],
    subscribe: ['devices/+/telemetry'],
  },
} as const satisfies Record<string, Rules>;

type Role = keyof typeof table;

function roleOf(principal: Principal): Role {
  return principal.kind === 'device' ? 'device' : principal.role;
}

function selfOf(principal: Principal): string {
  return principal.kind === 'device' ? principal.id : principal.clientId;
}

function expand(pattern: string, self: string): string[] {
  return pattern.split('/').map((level) => (level === '{self}' ? self : level));
}

/** True when every topic `filter` matches is also matched by `pattern` (both as topic levels). */
function covers(pattern: readonly string[], filter: readonly string[]): boolean {
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i];
    const f = filter[i];
    if (p === '#') return true;
    if (f === undefined) return false;
    if (f === '#') return false;
    if (p === '+') continue;
    if (f === '+' || f !== p) return false;
  }
  return filter.length === pattern.length;
}

/** A topic or filter whose levels are well formed ([MQTT-4.7.1-2], [MQTT-4.7.1-3], [MQTT-4.7.3-2]). */
function wellFormed(levels: readonly string[], allowWildcards: boolean): boolean {
  return levels.every((level, i) => {
    if (level.includes('\u0000')) return false;
    if (level === '+' || level === '#') return allowWildcards && (level === '+' || i === levels.length - 1);
    return !level.includes('+') && !level.includes('#');
  });
}

const SELF = Symbol('self');

/**
 * A role's publish rules, compiled once: rules without wildcards as levels with the principal's own id
 * marked, so a session holds no policy of its own; wildcard rules as written.
 */
interface PublishRules {
  readonly exact: readonly (readonly (string | typeof SELF)[])[];
  readonly wildcard: readonly string[];
}

function compilePublish(patterns: readonly string[]): PublishRules {
  const wildcard = patterns.filter((pattern) => pattern.split('/').some((level) => level === '+' || level === '#'));
  const exact = patterns
    .filter((pattern) => !wildcard.includes(pattern))
    .map((pattern) => pattern.split('/').map((level) => (level === '{self}' ? SELF : level)));
  return { exact, wildcard };
}

const publishRules = Object.fromEntries((Object.keys(table) as Role[]).map((role) => [role, compilePublish(table[role].publish)])) as Record<Role, PublishRules>;

/** `topic` equals the rule's levels joined by `/`, with `self` for the marked level (no allocation). */
function equalsRule(levels: PublishRules['exact'][number], self: string, topic: string): boolean {
  let at = 0;
  for (let i = 0; i < levels.length; i++) {
    const marked = levels[i]!;
    const level = marked === SELF ? self : marked;
    if (!topic.startsWith(level, at)) return false;
    at += level.length;
    if (i < levels.length - 1) {
      if (topic.charCodeAt(at) !== 0x2f) return false;
      at++;
    }
  }
  return at === topic.length;
}

/**
 * The publish rules of a principal. Topics without wildcards (all a device has) are compared with the
 * topic in place; wildcard rules are matched level by level.
 */
export function mayPublish(principal: Principal, topic: string, retain: boolean): boolean {
  if (retain && isRekeyTopic(topic)) return false;
  const self = selfOf(principal);
  const rules = publishRules[roleOf(principal)];
  if (rules.exact.some((levels) => equalsRule(levels, self, topic))) return true;
  if (rules.wildcard.length === 0) return false;
  const levels = topic.split('/');
  return wellFormed(levels, false) && rules.wildcard.some((pattern) => covers(expand(pattern, self), levels));
}

export function maySubscribe(principal: Principal, filter: string): boolean {
  const levels = filter.split('/');
  if (!wellFormed(levels, true)) return false;
  const self = selfOf(principal);
  return table[roleOf(principal)].subscribe.some((pattern) => covers(expand(pattern, self), levels));
}

/** Grants are never retained: a retained grant would be replayed to every later subscriber. */
function isRekeyTopic(topic: string): boolean {
  return parseTopic(topic)?.kind === 'rekey';
}
