import type { ErrorSection } from './spec.js';

/** Refusals of the state store. */
export const storeErrors = {
} as const satisfies ErrorSection;
