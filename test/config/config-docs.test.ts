import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { configDocs } from '../../src/config/config-docs.js';
import { configKeys, defaults } from '../../src/config/load-config.js';
import { REPO } from '../helpers.js';

test('docs/configuration.md is what the schema generates (run `frc config --docs > docs/configuration.md`)', () => {
  assert.equal(readFileSync(join(REPO, 'docs/configuration.md'), 'utf8'), configDocs());
});

test('the docs name every key with its variable, flag and default', () => {
  const docs = configDocs();
  const flat = defaults() as Record<string, unknown>;
  for (const key of configKeys()) {
    const row = docs.split('\n').find((line) => line.startsWith(`| \`${key.path}\` |`));
    assert.ok(row, key.path);
    assert.ok(row.includes(`\`${key.env}\``) && row.includes(`\`--${key.flag}\``), row);
    const [section, name] = key.path.includes('.') ? key.path.split('.') : [undefined, key.path];
    const value = section ? (flat[section] as Record<string, unknown>)[name!] : flat[name!];
    if (value !== undefined && typeof value !== 'object') assert.ok(row.includes(`\`${String(value)}\``), `${key.path} default in ${row}`);
  }
});
