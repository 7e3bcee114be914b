#!/usr/bin/env node
/** Entry point of the `agentway` command. */
import { program } from './cli/program.js';

// Output piped into `head` and the like: a closed pipe ends the command quietly.
process.stdout.on('error', (err: NodeJS.ErrnoException) => process.exit(err.code === 'EPIPE' ? 0 : 1));
await program().parseAsync(process.argv);
