/**
 * The install manifests and the commands they run take their defaults from manifests/defaults.ts: a port a
 * Deployment declares is the one its process listens on when given no flag.
 */
import { describe, expect, test } from '@jest/globals';
import { Command } from 'commander';
import { program } from '../../controller/cli/program.js';
import { renderInstall } from '../../manifests/install.js';
import { renderConfig } from '../../manifests/config.js';

type Json = Record<string, any>;

function flagDefault(command: string, flag: string): unknown {
  const cmd = program().commands.find((c: Command) => c.name() === command);
  return cmd?.options.find((o) => o.long === flag)?.defaultValue;
}

function containerPorts(name: string): Record<string, number> {
  const deployment = renderInstall().find((o) => o.kind === 'Deployment' && o.metadata.name === name) as Json | undefined;
  const ports: Json[] = deployment?.spec.template.spec.containers[0].ports ?? [];
  return Object.fromEntries(ports.map((p) => [p.name, p.containerPort]));
}

describe('defaults', () => {
  test('the controller listens where its Deployment points', () => {
    expect(containerPorts('agentway-controller')).toEqual({
      metrics: flagDefault('controller', '--metrics-port'), probes: flagDefault('controller', '--probe-port'),
    });
    expect(containerPorts('agentway-controller')).toEqual({ metrics: 8080, probes: 8081 });
  });

  test('the route server listens where its Deployment and the routes point', () => {
    expect(containerPorts('agentway-route-server')).toEqual({ http: flagDefault('route-server', '--port') });
    expect(renderConfig().routeServer.port).toBe(flagDefault('route-server', '--port'));
    expect(renderConfig().routeServer.port).toBe(8090);
  });

  test('the model router listens where its Deployment points', () => {
    expect(containerPorts('agentway-router')).toEqual({
      http: flagDefault('router', '--port'), admin: flagDefault('router', '--admin-port'), metrics: flagDefault('router', '--metrics-port'),
    });
    expect(containerPorts('agentway-router')).toEqual({ http: 8000, admin: 8001, metrics: 8082 });
  });

  test('the render flags default to the render config', () => {
    const c = renderConfig();
    expect(flagDefault('synth', '--gateway-name')).toBe(c.gateway.name);
    expect(flagDefault('synth', '--gateway-namespace')).toBe(c.gateway.namespace);
    expect(flagDefault('synth', '--route-server-namespace')).toBe(c.routeServer.namespace);
    expect(flagDefault('install', '--namespace')).toBe(c.router.namespace);
    expect([c.gateway.name, c.gateway.namespace]).toEqual(['agentway-gateway', 'agentway-system']);
  });
});
