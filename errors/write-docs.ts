import { writeFileSync } from 'node:fs';
import { renderErrorDocs } from './render-docs.js';

writeFileSync(new URL('../../docs/errors.md', import.meta.url), renderErrorDocs());
