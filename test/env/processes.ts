/**
 * Child processes of the test control plane: each runs in its own process group with its output in a log file,
 * and none outlives the process that started it, whether that process returns, throws, is interrupted or is killed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/** A running component of the control plane. */
export interface Component {
  readonly name: string;
  readonly child: ChildProcess;
  readonly logPath: string;
  /** Resolves when the process has exited, with a description such as `exit code 1` or `signal SIGKILL`. */
  readonly exited: Promise<string>;
  /** Whether the process has exited. */
  hasExited(): boolean;
}

/** The last lines of a component's log, for error messages. */
export function logTail(component: Component, lines = 40): string {
  let text: string;
  try {
    text = readFileSync(component.logPath, 'utf8');
  } catch {
    return `(no log at ${component.logPath})`;
  }
  return text.split('\n').slice(-lines).join('\n');
}

/**
 * The processes of one control plane, and the temporary directory they use.
 *
 * Exit and signal handlers kill every process group and remove the directory synchronously. A watchdog shell,
 * started first, does the same when the parent dies without running its handlers (SIGKILL, OOM).
 */
export class ProcessGroup {
  private readonly components: Component[] = [];
  private readonly pgidFile: string;
  private readonly watchdog: ChildProcess;
  private cleaned = false;
  private readonly onExit = (): void => this.killAllSync();
  private readonly onSignal = (signal: NodeJS.Signals): void => {
    this.killAllSync();
    // Keep the default behaviour (terminate) unless someone else handles the signal.
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  };

  constructor(readonly dir: string) {
    this.pgidFile = join(dir, 'pgids');
    appendFileSync(this.pgidFile, '');
    const script = [
      'while kill -0 "$1" 2>/dev/null; do sleep 1; done',
      'for g in $(cat "$2/pgids" 2>/dev/null); do kill -9 "-$g" 2>/dev/null; done',
      'rm -rf "$2"',
    ].join('\n');
    this.watchdog = spawn('/bin/sh', ['-c', script, 'agentway-test-watchdog', String(process.pid), dir], {
      detached: true, stdio: 'ignore',
    });
    this.watchdog.unref();
    process.once('exit', this.onExit);
    process.once('SIGINT', this.onSignal);
    process.once('SIGTERM', this.onSignal);
    process.once('SIGHUP', this.onSignal);
  }

  /** Starts `bin` in its own process group with stdout and stderr appended to `<dir>/<name>.log`. */
  start(name: string, bin: string, args: readonly string[]): Component {
    const logPath = join(this.dir, `${name}.log`);
    const fd = openSync(logPath, 'a');
    let child: ChildProcess;
    try {
      child = spawn(bin, args, { detached: true, stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd);
    }
    let exitedFlag = false;
    const exited = new Promise<string>((resolve) => {
      child.once('error', (err) => { exitedFlag = true; resolve(`spawn error: ${err.message}`); });
      child.once('exit', (code, signal) => {
        exitedFlag = true;
        resolve(signal ? `signal ${signal}` : `exit code ${code}`);
      });
    });
    // The exit handler, not the event loop, is what keeps these from outliving the parent.
    child.unref();
    if (child.pid !== undefined) appendFileSync(this.pgidFile, `${child.pid}\n`);
    const component: Component = { name, child, logPath, exited, hasExited: () => exitedFlag };
    this.components.push(component);
    return component;
  }

  /** Stops the components in reverse start order (SIGTERM, then SIGKILL), then removes the directory. */
  async stop(graceMs = 5000): Promise<void> {
    for (const component of [...this.components].reverse()) {
      if (component.hasExited()) continue;
      // Referenced again so that the event loop waits for the exit.
      component.child.ref();
      killGroup(component.child, 'SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), graceMs); });
      const outcome = await Promise.race([component.exited, timeout]);
      clearTimeout(timer);
      if (outcome === 'timeout') {
        killGroup(component.child, 'SIGKILL');
        await component.exited;
      }
    }
    this.killAllSync();
  }

  /** Kills every process group, the watchdog too, and removes the directory; safe to call more than once. */
  killAllSync(): void {
    if (this.cleaned) return;
    this.cleaned = true;
    for (const component of this.components) killGroup(component.child, 'SIGKILL');
    killGroup(this.watchdog, 'SIGKILL');
    if (!process.env.AGENTWAY_TEST_KEEP_DIR) rmSync(this.dir, { recursive: true, force: true });
    process.removeListener('exit', this.onExit);
    process.removeListener('SIGINT', this.onSignal);
    process.removeListener('SIGTERM', this.onSignal);
    process.removeListener('SIGHUP', this.onSignal);
  }
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}
