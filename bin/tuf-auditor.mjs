#!/usr/bin/env node
// Launcher: loads the TypeScript sources through tsx, resolved from this package, so the command
// works from any directory (paths in arguments are relative to where you run it).
import { register } from 'tsx/esm/api';

register();
await import('../auditor/main.ts');
