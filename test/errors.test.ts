import t from 'tap';
import { readFileSync } from 'node:fs';
import { catalogue, FleetkeyError, isFleetkeyError, sections } from '../errors/index.js';
import { renderErrorDocs } from '../errors/render-docs.js';

t.test('docs/errors.md is in step with the catalogue', async (t) => {
  const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
  t.equal(doc, renderErrorDocs(), 'run `npm run docs:errors` after changing errors/');
});

t.test('every code is upper snake case with a status and a sentence', async (t) => {
  for (const [code, spec] of Object.entries(catalogue)) {
    t.match(code, /^[A-Z][A-Z0-9_]+$/, code);
    t.ok(spec.status >= 400 && spec.status < 600, `${code} status`);
    t.match(spec.message, /^[A-Z].*\.$/, `${code} message is a sentence`);
  }
});

t.test('FleetkeyError carries code, status and a caller-safe body', async (t) => {
  const err = new FleetkeyError('BODY_TOO_LARGE', 'body was 70000 bytes');
  t.equal(err.code, 'BODY_TOO_LARGE');
  t.equal(err.status, 413);
  t.same(err.toJSON(), { error: { code: 'BODY_TOO_LARGE', message: catalogue.BODY_TOO_LARGE.message } });
  t.notMatch(JSON.stringify(err.toJSON()), /70000/, 'detail stays out of the body');
  t.ok(isFleetkeyError(err, 'BODY_TOO_LARGE'));
  t.notOk(isFleetkeyError(err, 'INTERNAL'));
  t.notOk(isFleetkeyError(new Error('x')));
});

t.test('no code is defined in two sections, and every section is listed', async (t) => {
  const seen = new Map<string, number>();
  for (const section of Object.values(sections)) for (const code of Object.keys(section)) seen.set(code, (seen.get(code) ?? 0) + 1);
  t.same([...seen].filter(([, n]) => n > 1).map(([code]) => code), [], 'a code belongs to one section');
  t.equal(seen.size, Object.keys(catalogue).length, 'every section is in the catalogue');
});
