#!/usr/bin/env node
// Entry for `npx karb` / a global install: runs the TypeScript CLI with Node's type stripping.
import '../src/cli/main.ts';
