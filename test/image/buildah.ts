/**
 * The image `npm run image` builds, run with buildah (vfs storage, chroot isolation) the way the tests need it:
 * a working container from the image, commands run in it through the image's own ENTRYPOINT, and long-running
 * ones stopped by process group.
 */
import { ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../env/control-plane.js';

const VERSION: string = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).version;
/** What `npm run image` tags. */
export const IMAGE = `localhost/agentway:${VERSION}`;

const ENV = { ...process.env, STORAGE_DRIVER: 'vfs', BUILDAH_ISOLATION: 'chroot' };

/** Why the image tests cannot run on this machine, or undefined when they can. */
export function buildahUnusable(): string | undefined {
  if (process.platform !== 'linux') return `buildah runs on Linux only (this is ${process.platform})`;
  const version = spawnSync('buildah', ['--version'], { env: ENV, encoding: 'utf8' });
  if (version.error || version.status !== 0) return 'buildah is not installed (`npm run image` installs it with apt)';
  if (process.getuid?.() !== 0) return 'buildah with vfs storage and chroot isolation needs root here';
  return undefined;
}

export function imageExists(): boolean {
  return spawnSync('buildah', ['inspect', '--type', 'image', IMAGE], { env: ENV, stdio: 'ignore' }).status === 0;
}

/** The image's OCI config: its ENTRYPOINT, User, Env. */
export function imageConfig(): { Entrypoint: string[]; User?: string; Env?: string[] } {
  const out = execFileSync('buildah', ['inspect', '--type', 'image', IMAGE], { env: ENV, encoding: 'utf8', maxBuffer: 64 << 20 });
  return JSON.parse(out).OCIv1.config;
}

/** The image's ENTRYPOINT, so that the tests run what a container runtime would. */
export function entrypoint(): string[] {
  return imageConfig().Entrypoint;
}

export interface RunOptions {
  /** `host:container[:options]` bind mounts. */
  readonly volumes?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  readonly timeoutMs?: number;
}

export interface Outcome { readonly code: number | null; readonly stdout: string; readonly stderr: string }

/** A working container of the image; `remove()` deletes it. */
export class WorkingContainer {
  private constructor(public readonly id: string) {}

  public static create(): WorkingContainer {
    const id = execFileSync('buildah', ['from', '--pull=false', IMAGE], { env: ENV, encoding: 'utf8' }).trim();
    return new WorkingContainer(id);
  }

  private args(argv: readonly string[], opts: RunOptions): string[] {
    return [
      'run', '--network', 'host',
      ...(opts.volumes ?? []).flatMap((v) => ['--volume', v]),
      ...Object.entries(opts.env ?? {}).flatMap(([k, v]) => ['--env', `${k}=${v}`]),
      this.id, '--', ...entrypoint(), ...argv,
    ];
  }

  /** Runs the image's ENTRYPOINT with `argv` to completion. */
  public run(argv: readonly string[], opts: RunOptions = {}): Promise<Outcome> {
    return new Promise((resolve) => {
      const child = spawn('buildah', this.args(argv, opts), { env: ENV, detached: true });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => { stdout += d; });
      child.stderr.on('data', (d) => { stderr += d; });
      const timer = setTimeout(() => killGroup(child), opts.timeoutMs ?? 60_000);
      child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
    });
  }

  /** Starts the image's ENTRYPOINT with `argv` and leaves it running; its output collects in `output()`. */
  public start(argv: readonly string[], opts: RunOptions = {}): RunningProcess {
    return new RunningProcess(spawn('buildah', this.args(argv, opts), { env: ENV, detached: true }));
  }

  public remove(): void {
    spawnSync('buildah', ['rm', this.id], { env: ENV, stdio: 'ignore' });
  }
}

export class RunningProcess {
  private log = '';
  private readonly exited: Promise<number | null>;

  public constructor(private readonly child: ChildProcess) {
    child.stdout!.on('data', (d) => { this.log += d; });
    child.stderr!.on('data', (d) => { this.log += d; });
    this.exited = new Promise((resolve) => child.on('close', resolve));
  }

  public output(): string {
    return this.log;
  }

  /** SIGTERM to the process group buildah started, SIGKILL if it has not exited within 10 s. */
  public async stop(): Promise<number | null> {
    killGroup(this.child, 'SIGTERM');
    const timer = setTimeout(() => killGroup(this.child, 'SIGKILL'), 10_000);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (child.pid === undefined || child.exitCode !== null) return;
  try { process.kill(-child.pid, signal); } catch { /* already gone */ }
}
