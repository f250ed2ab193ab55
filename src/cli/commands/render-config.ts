// `switchboard render-config`: InfiniLM-SVC's render_service_config.py, with a real template
// engine. Same flags and messages; errors print `Error: <message>` and exit 1 as it did
// (on stderr: the original printed them on stdout, mixed with the output path).
import { isSwitchboardError } from '../../core/index.js';
import { DEFAULT_CONFIGS_DIR, DEFAULT_TEMPLATES_DIR, generateServiceConfig } from '../../tools/render-config.js';
import type { CommandSpec } from '../command.js';

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

export const command: CommandSpec = {
  description:
    'Renders a deployment JSON ({"models": [...], ...}) through a nunjucks (Jinja2-syntax) template into an engine ' +
    'config. The built-in template writes the InfiniLM-Rust service TOML exactly as InfiniLM-SVC did. ' +
    'Template variables: every top-level key of the JSON (models, ...). See docs/configuration.md.',
  options: {
    template: { type: 'string', valueName: 'name|path', description: 'Template: a name inside --templates-dir, or a path', defaultText: 'built-in InfiniLM-Rust service TOML' },
    config: { type: 'string', valueName: 'name|path', description: 'Deployment JSON: a name inside --configs-dir, or a path (required unless --test)' },
    output: { type: 'string', valueName: 'path', description: 'Output file', defaultText: 'a new temp file' },
    test: { type: 'boolean', description: 'Render a built-in sample model (test-model) instead of --config' },
    'templates-dir': { type: 'string', valueName: 'dir', description: 'Where --template names and {% include %}s are looked up', defaultText: DEFAULT_TEMPLATES_DIR },
    'configs-dir': { type: 'string', valueName: 'dir', description: 'Where --config names are looked up', defaultText: DEFAULT_CONFIGS_DIR },
  },
  examples: [
    'switchboard render-config --config server1_models.json --output service.toml',
    'switchboard render-config --config ./models.json --template vllm.yaml.njk --templates-dir ./templates',
    'switchboard render-config --test',
  ],
  run(ctx) {
    const v = ctx.values;
    try {
      const { outputPath } = generateServiceConfig({
        template: str(v.template),
        config: str(v.config),
        output: str(v.output),
        test: v.test === true,
        templatesDir: str(v['templates-dir']),
        configsDir: str(v['configs-dir']),
      });
      ctx.stdout.write(`Generated ${v.test === true ? 'test ' : ''}service configuration: ${outputPath}\n`);
      return Promise.resolve(0);
    } catch (err) {
      if (!isSwitchboardError(err)) throw err;
      ctx.stderr.write(`Error: ${err.message}\n`);
      return Promise.resolve(1);
    }
  },
};
