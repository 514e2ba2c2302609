import type { ErrorSection } from './spec.js';

/** Refusals of the CA library: CSR validation, key policy, CA material on disk. */
export const certsErrors = {
} as const satisfies ErrorSection;
