import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { errorMessage } from '../../base/errors.js';
import { type VulkanAdapter, vulkanAdapters } from './native.js';
import { buildOnnxModel } from './onnx-builder.js';
import { ort, sessionOptions } from './ort.js';
import { WorkerSession } from './worker-session.js';

/**
 * Which ONNX Runtime execution provider runs the models. onnxruntime-node
 * bundles `cpu` and `webgpu` (Dawn, on Vulkan here: any vendor's GPU);
 * `cuda` and `tensorrt` work where their libraries were installed beside it.
 */
export type ExecutionProvider = 'cpu' | 'webgpu' | 'cuda' | 'tensorrt';
/** What a user asks for: a provider, or `auto`, a working hardware GPU if there is one, else the CPU. */
export type ProviderRequest = 'auto' | ExecutionProvider;
export const PROVIDER_REQUESTS: readonly ProviderRequest[] = ['auto', 'cpu', 'webgpu', 'cuda', 'tensorrt'];

export interface ProviderChoice {
  provider: ExecutionProvider;
  /** The device's name, where it can be told (see `adapterOf`). */
  adapter?: string;
  /** True for a software adapter (SwiftShader, llvmpipe): correct, but far slower than the CPU provider. */
  software?: boolean;
  /** One line for each provider that was asked for or tried and failed to start; the choice fell back past it. */
  warnings: string[];
}

const chosen = new Map<ProviderRequest, Promise<ProviderChoice>>();

/**
 * The provider for `request`, tried once per process: each candidate must
 * load and run a one-node graph in a model thread. A provider that fails
 * gives a warning and the CPU is used; `auto` never takes a software
 * adapter, an explicit `webgpu` may.
 */
export function chooseProvider(request: ProviderRequest): Promise<ProviderChoice> {
  let choice = chosen.get(request);
  if (!choice) {
    choice = choose(request);
    chosen.set(request, choice);
  }
  return choice;
}

async function choose(request: ProviderRequest): Promise<ProviderChoice> {
  const warnings: string[] = [];
  const candidates: ExecutionProvider[] =
    request !== 'auto' ? [request] : [...(cudaInstalled() ? (['cuda'] as const) : []), ...(hardwareVulkan() ? (['webgpu'] as const) : [])];
  for (const provider of candidates) {
    if (provider === 'cpu') break;
    const failure = await probe(provider);
    if (failure === undefined) return { provider, ...adapterOf(provider), warnings };
    warnings.push(`provider ${provider} failed to start (${failure}); ${request === 'auto' ? 'trying the next' : 'running on the CPU'}`);
  }
  return { provider: 'cpu', warnings };
}

/** "webgpu on NVIDIA H100 (Vulkan)", "cpu": the choice in a few words, for logs and summaries. */
export function describeProvider(choice: ProviderChoice): string {
  if (choice.provider === 'cpu') return 'cpu';
  const adapter = choice.adapter ?? 'an adapter ONNX Runtime does not name';
  return `${choice.provider} on ${adapter}${choice.software ? ' (a software adapter: for checking correctness, not speed)' : ''}`;
}

/** Undefined when `provider` loads and runs a one-node graph correctly, else why not (one line). */
async function probe(provider: ExecutionProvider): Promise<string | undefined> {
  const graph = buildOnnxModel({
    name: 'probe',
    inputs: [{ name: 'x', dims: [1, 4] }],
    outputs: [{ name: 'y', dims: [1, 4] }],
    nodes: [{ op: 'Add', inputs: ['x', 'x'], outputs: ['y'] }],
  });
  try {
    const session = await WorkerSession.create(graph, sessionOptions(provider, 1));
    try {
      const out = await session.run({ x: new ort.Tensor('float32', Float32Array.of(1, 2, 3, 4), [1, 4]) });
      const y = out.y!.data as Float32Array;
      if (![2, 4, 6, 8].every((v, i) => y[i] === v)) return `a test graph gave ${Array.from(y).join(', ')} instead of 2, 4, 6, 8`;
    } finally {
      await session[Symbol.asyncDispose]();
    }
    return undefined;
  } catch (err) {
    // ONNX Runtime's messages start with its source path and the failed check: the reason is at the end.
    return errorMessage(err).split('\n')[0]!.replace(/^\/onnxruntime_src\/.*? was false\. /, '');
  }
}

const TYPE_RANK: Record<VulkanAdapter['type'], number> = { discrete: 0, integrated: 1, virtual: 2, other: 3, cpu: 4 };

/** The Vulkan device Dawn would take (the highest kind listed), or undefined when none, or the addon is not built. */
function bestVulkanAdapter(): VulkanAdapter | undefined {
  return vulkanAdapters()?.sort((a, b) => TYPE_RANK[a.type] - TYPE_RANK[b.type])[0];
}

function hardwareVulkan(): boolean {
  const best = bestVulkanAdapter();
  return best !== undefined && best.type !== 'cpu';
}

/**
 * The device's name: for webgpu the Vulkan device Dawn prefers (ONNX
 * Runtime does not say which adapter Dawn took; it takes the highest kind,
 * as here), for cuda the driver's model name of the first GPU.
 */
function adapterOf(provider: ExecutionProvider): { adapter?: string; software?: boolean } {
  if (provider === 'webgpu') {
    const best = bestVulkanAdapter();
    return best ? { adapter: `${best.name} (Vulkan)`, software: best.type === 'cpu' } : {};
  }
  const gpus = '/proc/driver/nvidia/gpus';
  if (existsSync(gpus)) {
    const first = readdirSync(gpus)[0];
    const model = first && /^Model:\s*(.+)$/m.exec(readFileSync(join(gpus, first, 'information'), 'utf8'))?.[1];
    if (model) return { adapter: model.trim() };
  }
  return {};
}

/** Whether ONNX Runtime's CUDA provider library was installed beside its binding. */
function cudaInstalled(): boolean {
  const require = createRequire(import.meta.url);
  const bin = join(dirname(require.resolve('onnxruntime-node')), '..', 'bin');
  try {
    return readdirSync(bin, { recursive: true }).some((f) => String(f).endsWith('libonnxruntime_providers_cuda.so'));
  } catch {
    return false;
  }
}
