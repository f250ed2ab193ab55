// `switchboard render-config`: a deployment JSON (a models list, plus any variables you like)
// rendered through a template into an engine config file. The replacement for InfiniLM-SVC's
// python/render_service_config.py (reference §5.1): same flags, same files in the same places,
// and with the built-in template the same bytes. The original only pretended to use its
// template (it discarded the text and hard-coded the TOML); here the template really renders,
// so another engine's config is a template away.
import { existsSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { assetPath, sbError } from '../core/index.js';
import { tempOutputPath, writeFileAtomic } from './atomic-write.js';
import { asObject, readPyJsonFile } from './py-json.js';
import { testModelsConfig, validateDeploymentConfig } from './service-models.js';
import { renderTemplateFile } from './template-env.js';

export const BUILTIN_TEMPLATE = assetPath('templates', 'service.toml.njk');

export interface RenderConfigOptions {
  /** A template name inside templatesDir, or a path; the built-in InfiniLM-Rust TOML when unset. */
  template?: string | undefined;
  /** The deployment JSON: a name inside configsDir, or a path. Unused with `test`. */
  config?: string | undefined;
  /** Where to write; a new temp file (`/tmp/tmpXXXX.toml`) when unset. */
  output?: string | undefined;
  /** Render the built-in sample model instead of a config file. */
  test?: boolean | undefined;
  templatesDir?: string | undefined;
  configsDir?: string | undefined;
}

export interface RenderConfigResult {
  outputPath: string;
  text: string;
}

export const DEFAULT_TEMPLATES_DIR = 'templates';
export const DEFAULT_CONFIGS_DIR = 'deployment_configs';

/**
 * Finds `name` the way the original did (inside `dir`; an absolute name stands for itself),
 * then, as a convenience the original lacked, relative to the working directory.
 */
export function locateFile(name: string, dir: string, what: string): string {
  const candidates = isAbsolute(name) ? [name] : [...new Set([join(dir, name), name])];
  const found = candidates.find((p) => existsSync(p));
  if (found === undefined) {
    const [first, ...others] = candidates;
    throw sbError('SB_ERR_FILE_NOT_FOUND', what, `${first}${others.length ? ` (nor ${others.join(', ')})` : ''}`);
  }
  return found;
}

/** Renders without writing: the text the output file would get. */
export function renderServiceConfig(opts: RenderConfigOptions): string {
  const templatesDir = opts.templatesDir ?? DEFAULT_TEMPLATES_DIR;
  const templatePath = opts.template === undefined ? BUILTIN_TEMPLATE : locateFile(opts.template, templatesDir, 'Template');
  let context: Record<string, unknown>;
  if (opts.test) {
    context = testModelsConfig();
  } else {
    if (opts.config === undefined) throw sbError('SB_ERR_USAGE', '--config is required when not using --test');
    const configPath = locateFile(opts.config, opts.configsDir ?? DEFAULT_CONFIGS_DIR, 'Deployment config');
    context = asObject(readPyJsonFile(configPath, 'Deployment config'), configPath);
  }
  validateDeploymentConfig(context, templatePath === BUILTIN_TEMPLATE);
  return renderTemplateFile(templatePath, context, existsSync(templatesDir) ? [resolve(templatesDir)] : []);
}

/** Renders and writes the file (atomically); nothing is written when anything fails. */
export function generateServiceConfig(opts: RenderConfigOptions): RenderConfigResult {
  const text = renderServiceConfig(opts);
  const outputPath = opts.output ?? tempOutputPath('.toml');
  writeFileAtomic(outputPath, text);
  return { outputPath, text };
}
