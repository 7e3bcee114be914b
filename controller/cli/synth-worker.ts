/**
 * A render thread of `agentway synth`: renders the entries it is sent and posts back what they render to.
 * Rendering is pure (manifests/), so a thread renders exactly what the main thread would.
 */
import { parentPort } from 'node:worker_threads';
import { RenderConfig } from '../../manifests/config.js';
import { SynthEntry, renderEntry } from '../../manifests/synth.js';

export interface RenderTask {
  readonly entries: readonly SynthEntry[];
  readonly config: RenderConfig;
}

parentPort?.once('message', (task: RenderTask) => {
  parentPort!.postMessage(task.entries.map((e) => renderEntry(e, task.config)));
});
