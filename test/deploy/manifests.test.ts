import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigMap, Secret, Service } from 'kubernetes-models/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { parseAllDocuments } from 'yaml';
import { loadConfig } from '../../src/config/load-config.js';
import { REPO } from '../helpers.js';

/**
 * The manifests in deploy/k8s, checked against the Kubernetes OpenAPI
 * schemas: `kubernetes-models` ships a JSON-schema validator (ajv) per
 * resource kind, generated from the Kubernetes API's OpenAPI spec. Then the
 * wiring a schema cannot see: probes on the routes frc serves, ports that
 * match the config, selectors that match the pods.
 */
const K8S = join(REPO, 'deploy/k8s');
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
};

type Resource = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string> }; spec?: any; data?: Record<string, string> };

function resources(): { file: string; resource: Resource }[] {
  return readdirSync(K8S)
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((file) =>
      parseAllDocuments(readFileSync(join(K8S, file), 'utf8')).map((doc) => {
        assert.deepEqual(doc.errors, [], file);
        return { file, resource: doc.toJS() as Resource };
      }),
    );
}

function validate(resource: Resource): void {
  const Model = MODELS[`${resource.apiVersion}/${resource.kind}`];
  assert.ok(Model, `no schema for ${resource.apiVersion} ${resource.kind}`);
  new Model(resource as never).validate();
}

test('every manifest validates against its Kubernetes schema', () => {
  const all = resources();
  assert.ok(all.length >= 9, `${all.length} resources`);
  for (const { file, resource } of all) {
    assert.doesNotThrow(() => validate(resource), `${file}: ${resource.kind} ${resource.metadata?.name}`);
  }
  const kinds = new Set(all.map(({ resource }) => resource.kind));
  for (const kind of ['Deployment', 'Service', 'PodDisruptionBudget', 'HorizontalPodAutoscaler', 'ConfigMap']) assert.ok(kinds.has(kind), kind);
});

test('the validator is real: broken manifests are rejected', () => {
  const deployment = resources().find(({ resource }) => resource.kind === 'Deployment')!.resource;
  const broken = (mutate: (d: any) => void) => {
    const copy = structuredClone(deployment);
    mutate(copy);
    return copy;
  };
  assert.throws(() => validate(broken((d) => (d.spec.replicas = 'two'))));
  assert.throws(() => validate(broken((d) => delete d.spec.selector)));
  assert.throws(() => validate(broken((d) => (d.spec.template.spec.containers[0].readinessProbe.periodSeconds = '5s'))));
  assert.throws(() => validate(broken((d) => (d.spec.template.spec.containers[0].ports[0].containerPort = 'http'))));
});

test('the engine Deployments: GPU request, probes on /healthz and /readyz, non-root, ports and drain matching frc.yml', () => {
  const all = resources().map(({ resource }) => resource);
  const configMap = all.find((r) => r.kind === 'ConfigMap')!;
  // The ConfigMap's frc.yml is a valid frc config.
  const config = loadConfig({ file: { path: 'configmap frc.yml', text: configMap.data!['frc.yml']! } });
  const deployments = all.filter((r) => r.kind === 'Deployment');
  assert.deepEqual(deployments.map((d) => d.metadata.name).sort(), ['frc', 'frc-cpu']);
  for (const d of deployments) {
    const pod = d.spec.template.spec;
    const [container] = pod.containers;
    const gpu = d.metadata.name === 'frc';
    assert.equal(container.resources.limits['nvidia.com/gpu'], gpu ? 1 : undefined, d.metadata.name);
    assert.equal(container.readinessProbe.httpGet.path, '/readyz');
    assert.equal(container.livenessProbe.httpGet.path, '/healthz');
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.ok(pod.securityContext.runAsUser > 0);
    assert.equal(container.securityContext.allowPrivilegeEscalation, false);
    const ports = Object.fromEntries(container.ports.map((p: { name: string; containerPort: number }) => [p.name, p.containerPort]));
    assert.deepEqual(ports, { http: config.httpPort, rtmp: config.rtmpPort, admin: config.admin.port });
    assert.ok(pod.terminationGracePeriodSeconds > config.drainSeconds, 'the drain ends before the kubelet kills the pod');
    for (const [key, value] of Object.entries(d.spec.selector.matchLabels)) assert.equal(d.spec.template.metadata.labels[key], value);
    // Every FRC_ variable the pod sets is a config key (loadConfig refuses unknown ones).
    const env = Object.fromEntries(container.env.filter((e: { value?: string }) => e.value !== undefined).map((e: { name: string; value: string }) => [e.name, e.value]));
    assert.doesNotThrow(() => loadConfig({ env: { ...env, FRC_PUBLIC_URL: 'https://x' } }));
  }
  const hpa = all.find((r) => r.kind === 'HorizontalPodAutoscaler')!;
  assert.equal(hpa.spec.scaleTargetRef.name, 'frc');
  assert.equal(hpa.spec.metrics[0].type, 'Pods');
  assert.equal(hpa.spec.metrics[0].pods.metric.name, 'frc_active_streams');
  assert.ok(Number(hpa.spec.metrics[0].pods.target.averageValue) < config.limits.maxStreams, 'scale out before pods are full');
  const pdb = all.find((r) => r.kind === 'PodDisruptionBudget')!;
  const gpuPods = deployments.find((d) => d.metadata.name === 'frc')!.spec.template.metadata.labels;
  for (const [key, value] of Object.entries(pdb.spec.selector.matchLabels)) assert.equal(gpuPods[key], value);
  const perPod = all.find((r) => r.kind === 'Service' && r.metadata.name === 'frc-pods')!;
  assert.equal(perPod.spec.publishNotReadyAddresses, true, 'full or draining pods still reachable by their own streams\' viewers');
});
