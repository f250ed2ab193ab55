import { createLogger, parseConfig, seededRandom, systemClock, systemRandom } from '../../core/index.js';
import { ENGINE_KINDS, simConfigSchema } from '../../engine/config.js';
import { buildSimServer } from '../../engine/server.js';
import { untilAborted, type CommandSpec } from '../command.js';
import { boolFlag, fileAndFlagLayers, intFlag, listFlag, numberFlag, stringFlag } from '../flags.js';

/** Exit code of a simulated crash (EX_SOFTWARE from sysexits.h): non-zero, and not a signal's. */
export const SIM_CRASH_EXIT_CODE = 70;

export const command: CommandSpec = {
  description: [
    'A simulated OpenAI-compatible inference engine: continuous batching with slots, a FIFO queue,',
    'a KV cache and a prefix cache, vLLM metrics, llama.cpp /health and /slots, and fault injection',
    '(flags below, or GET/PUT/PATCH /admin/faults at runtime; POST /admin/crash). No GPU needed.',
    'Every flag has a config-file key (docs/configuration.md, "switchboard sim").',
  ].join('\n'),
  options: {
    port: { type: 'string', description: 'Port to listen on (0 = any free port)', valueName: 'port', defaultText: '8000' },
    host: { type: 'string', description: 'Address to bind', valueName: 'addr', defaultText: '127.0.0.1' },
    models: { type: 'string', description: 'Model ids served, comma-separated', valueName: 'a,b', defaultText: 'sim-model', multiple: true },
    kind: { type: 'string', description: `Endpoints served: ${ENGINE_KINDS.join(', ')} (chat = chat + completions)`, valueName: 'kind', defaultText: 'all' },
    seed: { type: 'string', description: 'Seed for replies and faults: same request + seed => same reply', valueName: 'n' },
    'max-num-seqs': { type: 'string', description: 'Sequences decoded together (slots)', valueName: 'n', defaultText: '32' },
    'max-num-batched-tokens': { type: 'string', description: 'Tokens per engine step (decodes + prefill chunks)', valueName: 'n', defaultText: '2048' },
    'prefill-tps': { type: 'string', description: 'Prefill speed, prompt tokens per second', valueName: 'n', defaultText: '8000' },
    'decode-ms': { type: 'string', description: 'One decode step with one sequence, ms (0 = no delay)', valueName: 'ms', defaultText: '12' },
    'batch-penalty': { type: 'string', description: 'Step time grows by this fraction of decode-ms per extra sequence', valueName: 'x', defaultText: '0.03' },
    'kv-cache-tokens': { type: 'string', description: 'KV cache capacity in tokens', valueName: 'n', defaultText: '65536' },
    'max-model-len': { type: 'string', description: 'Longest prompt + completion', valueName: 'n', defaultText: '8192' },
    'block-size': { type: 'string', description: 'Tokens per KV block (prefix-cache unit)', valueName: 'n', defaultText: '16' },
    'prefix-cache-blocks': { type: 'string', description: 'Blocks the prefix cache remembers (LRU)', valueName: 'n', defaultText: '8192' },
    'no-prefix-caching': { type: 'boolean', description: 'Turn automatic prefix caching off' },
    'default-max-tokens': { type: 'string', description: 'Completion length when a request sets no max_tokens', valueName: 'n', defaultText: '32' },
    'early-stop-rate': { type: 'string', description: 'Share of replies that end before max_tokens (finish_reason "stop")', valueName: '0..1', defaultText: '0.25' },
    'embedding-dim': { type: 'string', description: 'Length of embedding vectors', valueName: 'n', defaultText: '384' },
    'warmup-ms': { type: 'string', description: 'Slow start: /health and inference answer 503 "Loading model" this long', valueName: 'ms', defaultText: '0' },
    'fault-error-rate': { type: 'string', description: 'Share of inference requests answered with HTTP 500', valueName: '0..1', defaultText: '0' },
    'fault-spike-rate': { type: 'string', description: 'Share of inference requests delayed before their first token', valueName: '0..1', defaultText: '0' },
    'fault-spike-ms': { type: 'string', description: 'Extra delay of a spiked request', valueName: 'ms', defaultText: '2000' },
    'fault-stall-after': { type: 'string', description: 'Generations stop sending after n tokens (connection and slot held)', valueName: 'n' },
    'fault-drop-after': { type: 'string', description: 'Generations lose their connection after n tokens (no [DONE])', valueName: 'n' },
    'fault-crash-after': { type: 'string', description: `Crash (exit ${SIM_CRASH_EXIT_CODE}) once n inference requests were answered`, valueName: 'n' },
    'admin-token': { type: 'string', description: 'Bearer token for /admin/* (required for admin beyond loopback)', valueName: 'token' },
    config: { type: 'string', short: 'c', description: 'Config file (YAML, JSON or TOML; keys as in docs/configuration.md)', valueName: 'file' },
  },
  examples: [
    'switchboard sim --port 8100 --models qwen3-8b,qwen3-8b-chat',
    'switchboard sim --port 0 --kind embeddings --models bge-m3 --embedding-dim 1024',
    'switchboard sim --decode-ms 0 --max-num-seqs 256 --seed 1     # a benchmark backend',
    'switchboard sim --fault-error-rate 0.2 --fault-drop-after 10 --warmup-ms 5000',
  ],
  async run(ctx) {
    const v = ctx.values;
    const kind = stringFlag(v, 'kind');
    const config = parseConfig(
      simConfigSchema,
      fileAndFlagLayers(stringFlag(v, 'config'), {
        port: intFlag(v, 'port', 0, 65535),
        host: stringFlag(v, 'host'),
        models: listFlag(v, 'models'),
        kind,
        seed: intFlag(v, 'seed', 0),
        maxNumSeqs: intFlag(v, 'max-num-seqs', 1),
        maxNumBatchedTokens: intFlag(v, 'max-num-batched-tokens', 1),
        prefillTokensPerS: numberFlag(v, 'prefill-tps', Number.MIN_VALUE),
        decodeMs: numberFlag(v, 'decode-ms', 0),
        batchPenalty: numberFlag(v, 'batch-penalty', 0),
        kvCacheTokens: intFlag(v, 'kv-cache-tokens', 1),
        maxModelLen: intFlag(v, 'max-model-len', 1),
        blockSizeTokens: intFlag(v, 'block-size', 1),
        prefixCacheBlocks: intFlag(v, 'prefix-cache-blocks', 1),
        prefixCaching: boolFlag(v, 'no-prefix-caching') ? false : undefined,
        defaultMaxTokens: intFlag(v, 'default-max-tokens', 1),
        earlyStopRate: numberFlag(v, 'early-stop-rate', 0, 1),
        embeddingDim: intFlag(v, 'embedding-dim', 1),
        adminToken: stringFlag(v, 'admin-token'),
        faults: {
          warmupMs: numberFlag(v, 'warmup-ms', 0),
          errorRate: numberFlag(v, 'fault-error-rate', 0, 1),
          latencySpikeRate: numberFlag(v, 'fault-spike-rate', 0, 1),
          latencySpikeMs: numberFlag(v, 'fault-spike-ms', 0),
          stallAfterTokens: intFlag(v, 'fault-stall-after', 0),
          dropAfterTokens: intFlag(v, 'fault-drop-after', 0),
          crashAfterRequests: intFlag(v, 'fault-crash-after', 1),
        },
      }),
    );
    const logger = createLogger({ name: 'sim' });
    let onCrash: (reason: string) => void = () => undefined;
    const crashed = new Promise<string>((resolve) => (onCrash = resolve));
    const sim = buildSimServer(config, {
      clock: systemClock,
      random: config.seed === undefined ? systemRandom : seededRandom(config.seed),
      logger,
      onCrash: (reason) => onCrash(reason),
    });
    await sim.listen();
    const outcome = await Promise.race([untilAborted(ctx.signal).then(() => 'stop' as const), crashed.then(() => 'crash' as const)]);
    if (outcome === 'crash') {
      // a crash is not a shutdown: connections are already cut, nothing is drained
      logger.flush();
      return SIM_CRASH_EXIT_CODE;
    }
    logger.info('shutting down');
    await sim.close();
    logger.flush();
    return 0;
  },
};
