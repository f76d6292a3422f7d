#!/usr/bin/env node
/**
 * The `config-persistence` command. The program lives in `src/cli/`; this entry only runs it and
 * hands its exit code to the process.
 */
import { main } from './cli/index.js';

process.exitCode = await main(process.argv.slice(2));
