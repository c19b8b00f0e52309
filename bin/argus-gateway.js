#!/usr/bin/env node
// Runs the TypeScript sources through tsx, so the installed package needs no build step. The tsconfig
// is named explicitly because tsx otherwise reads the one in the working directory, and the entities
// need its experimentalDecorators setting.
import { fileURLToPath } from 'node:url';

import { register } from 'tsx/esm/api';

register({ tsconfig: fileURLToPath(new URL('../tsconfig.json', import.meta.url)) });
await import('../src/cli.ts');
