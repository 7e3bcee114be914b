/**
 * `agentway <command>` as its own process, as it runs in a cluster: started from the TypeScript sources, its
 * JSON log read line by line from stderr until the line that says it started.
 */
import { ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';

const ROOT = process.cwd();
const CLI = path.join(ROOT, 'controller', 'cli.ts');

export interface CliProcess {
  readonly child: ChildProcess;
  /** Every log line so far, in order; more arrive while it runs. */
  readonly log: string[];
  /** The start line, parsed: the ports it bound are there. */
  readonly started: Record<string, any>;
  /** Ends it with `signal` (if it still runs) and resolves with its exit code once it is gone. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface CliOptions {
  /** The `msg` of the log line that says it started, e.g. `route server started`. */
  readonly startedMessage: string;
  /** Added to this process's environment. @default LOG_LEVEL=info */
  readonly env?: Readonly<Record<string, string>>;
}

/** Runs `agentway ...args`; resolves once it has logged `startedMessage`, rejects if it exits before. */
export function startCli(args: readonly string[], opts: CliOptions): Promise<CliProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    cwd: ROOT, env: { ...process.env, LOG_LEVEL: 'info', ...opts.env }, stdio: ['ignore', 'ignore', 'pipe'],
  });
  const log: string[] = [];
  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill(signal);
    return exited;
  };
  return new Promise((resolve, reject) => {
    let pending = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        log.push(line);
        const entry = parsed(line);
        if (entry?.msg === opts.startedMessage) resolve({ child, log, started: entry, stop });
      }
    });
    child.once('exit', (code, signal) => {
      reject(new Error(`agentway ${args[0]} exited (${code ?? signal}) before it started:\n${log.slice(-20).join('\n')}`));
    });
  });
}

function parsed(line: string): Record<string, any> | undefined {
  try {
    const v = JSON.parse(line);
    return typeof v === 'object' && v !== null ? v : undefined;
  } catch {
    return undefined; // not every line on stderr is ours (e.g. a Node warning)
  }
}
