// aedes-persistence-redis ships no types; this is the part the broker uses.
declare module 'aedes-persistence-redis' {
  import type { Redis } from 'ioredis';
  export default function aedesPersistenceRedis(opts: { conn?: Redis; maxSessionDelivery?: number }): unknown;
}
