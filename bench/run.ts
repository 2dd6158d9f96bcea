/** `npm run bench [-- --json] [-- name...]` (see cli.ts). */
import { benchMain } from './cli.js';

process.exitCode = benchMain(process.argv.slice(2));
