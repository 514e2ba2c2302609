import { encodeJson } from '../records.js';
import type { IdentityBackend, StoreIdentity } from '../identity.js';
import type { Journal } from './journal.js';
import type { Op, State } from './state.js';

/** Whether the state holds anything of a fleet (the marker aside). */
export function hasFleetState(state: State): boolean {
  return state.devices.size > 0 || state.certificates.size > 0 || state.revocations.size > 0 || state.epochs.size > 0
    || state.apiTokens.size > 0 || state.audit.length > 0;
}

/** The identity marker of a `file:` store is an op of its state, journaled like any change. */
export function fileIdentityBackend(state: State, journal: Journal): IdentityBackend {
  return {
    readMarker: async () => state.identity,
    hasState: async () => hasFleetState(state),
    claim: async (identity: StoreIdentity) => {
      if (state.identity !== undefined) return state.identity;
      const op: Op = { t: 'meta', m: identity };
      state.apply(op);
      await journal.append(Buffer.from(encodeJson([op])));
      return identity;
    },
  };
}
