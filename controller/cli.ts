#!/usr/bin/env node
/** Entry point of the `agentway` command. */
import { program } from './program.js';

await program().parseAsync(process.argv);
