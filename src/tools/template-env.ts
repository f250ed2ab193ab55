// The template engine of `switchboard render-config`: nunjucks (Jinja2 syntax), set up for
// config files rather than HTML, with the filters a TOML template needs.
//   - autoescape off: `&` or `<` in a value must reach the file as is; strings that land in
//     TOML go through `| toml` / `| toml_string`, which escape for TOML instead.
//   - throwOnUndefined: `{{ model.pth }}` is an error with a line number, not an empty value in
//     an engine's config (test presence with `is defined`, as in Jinja2).
//   - Jinja2 filters the InfiniLM-SVC template used and nunjucks lacks or does differently:
//     `tojson`, and `lower`/`upper` on booleans and numbers (`{{ model.think | lower }}`).
import { dirname, basename } from 'node:path';
import nunjucks from 'nunjucks';
import { sbErrorFrom } from '../core/index.js';
import { isNumeric, jinjaToJson, pyJsonDumps, pyNumberStr } from './py-format.js';
import { tomlKey, tomlString, tomlValue } from './toml-format.js';

/** Jinja2's soft_str: what `{{ x | lower }}` sees for a non-string (Python's str()). */
function jinjaStr(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (v === null || v === undefined) return 'None';
  if (isNumeric(v)) return pyNumberStr(v);
  return pyJsonDumps(v);
}

function requireString(filter: string, v: unknown): string {
  if (typeof v !== 'string') throw new Error(`${filter} expects a string, got ${v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v}`);
  return v;
}

function createEnvironment(searchPaths: string[]): nunjucks.Environment {
  const env = new nunjucks.Environment(new nunjucks.FileSystemLoader(searchPaths, { noCache: true }), {
    autoescape: false,
    throwOnUndefined: true,
  });
  env.addFilter('toml', (v: unknown) => {
    try {
      return tomlValue(v);
    } catch (err) {
      throw new Error(`toml: ${(err as Error).message}`);
    }
  });
  env.addFilter('toml_string', (v: unknown) => tomlString(requireString('toml_string', v)));
  env.addFilter('toml_key', (v: unknown) => tomlKey(requireString('toml_key', v)));
  env.addFilter('tojson', (v: unknown, indent?: number) => jinjaToJson(v, indent));
  env.addFilter('lower', (v: unknown) => jinjaStr(v).toLowerCase());
  env.addFilter('upper', (v: unknown) => jinjaStr(v).toUpperCase());
  return env;
}

/**
 * Renders one template file with `context` as its variables. `{% include %}` / `{% extends %}`
 * look next to the template first, then in `extraSearchPaths` (the --templates-dir).
 * Any template problem (syntax, undefined value, a filter refusing a value) is SB_ERR_TEMPLATE
 * with nunjucks' line and column.
 */
export function renderTemplateFile(templatePath: string, context: Record<string, unknown>, extraSearchPaths: string[] = []): string {
  const env = createEnvironment([dirname(templatePath), ...extraSearchPaths]);
  try {
    return env.render(basename(templatePath), context);
  } catch (err) {
    const detail = (err as Error).message.replace(/^\(.*?\)\s*/, '').replace(/\s+/g, ' ').trim();
    throw sbErrorFrom(err, 'SB_ERR_TEMPLATE', templatePath, detail);
  }
}
