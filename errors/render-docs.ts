import { catalogue } from './index.js';

/** The Markdown of `docs/errors.md`, rendered from the catalogue. */
export function renderErrorDocs(): string {
  const rows = Object.entries(catalogue)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([code, spec]) => `| \`${code}\` | ${spec.status} | ${spec.message} |`);
  return [
    '# Error codes',
    '',
    'Every refusal fleetkey makes carries one of these stable codes. HTTP answers have the body',
    '`{ "error": { "code": "…", "message": "…" } }` with the status below; the CLI prints the code and',
    'message and exits non-zero. The cause behind a refusal goes to the service log, never to the caller.',
    '',
    'This file is generated from `errors/` by `npm run docs:errors`; a test fails when the two differ.',
    '',
    '| code | HTTP status | message |',
    '|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}
