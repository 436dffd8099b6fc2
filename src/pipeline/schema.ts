/**
 * The JSON Schema of pipeline.yaml. `baseSchema` checks the structure; each kind's
 * `paramsSchema` checks its `params:`. `editorSchema()` combines both for editors and is
 * committed as schema/pipeline.schema.json (a test keeps the two in sync).
 */
import type { JsonObject, TaskKind } from '../task-api.js';

const name = { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_.-]*$' };

export const targetSchema: JsonObject = {
  type: 'object',
  additionalProperties: false,
  required: ['kind'],
  properties: {
    kind: { type: 'string', description: 'Task kind: files, command, compile, validate, dataset, ...' },
    description: { type: 'string' },
    from: {
      description: 'Primary input: a target name (or several for aggregating kinds), or a file glob.',
      oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' }, minItems: 1 }],
    },
    with: {
      description: 'More inputs by name. Per-item kinds join them to each item by its base key.',
      type: 'object',
      additionalProperties: { type: 'string' },
    },
    params: { type: 'object', description: "The kind's parameters." },
    matrix: {
      description: 'Run every item once per combination of these parameter values.',
      type: 'object',
      minProperties: 1,
      additionalProperties: { type: 'array', items: { type: 'string' }, minItems: 1 },
    },
    out: {
      description: 'Where outputs are materialized: a folder for per-item kinds (default build/<target>), inside the project.',
      type: 'string',
    },
  },
};

export const baseSchema: JsonObject = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  title: 'asmgraph pipeline',
  type: 'object',
  additionalProperties: false,
  required: ['version', 'targets'],
  properties: {
    version: { const: 1 },
    default: {
      description: 'Targets built when none are named on the command line.',
      oneOf: [name, { type: 'array', items: name, minItems: 1 }],
    },
    settings: {
      type: 'object',
      additionalProperties: false,
      properties: {
        jobs: { type: 'integer', minimum: 0, description: 'CPU pool size; 0 = number of CPUs.' },
        llmConcurrency: { type: 'integer', minimum: 1, description: 'Concurrent LLM requests.' },
        buildDir: { type: 'string', description: 'Default output folder (default build).' },
        remoteCache: {
          type: 'string',
          pattern: '^https?://',
          description: "Remote cache speaking Bazel's HTTP protocol (bazel-remote, nginx WebDAV): https:// (http:// only to loopback); token in ASMGRAPH_REMOTE_TOKEN. Overridden by --remote-cache.",
        },
      },
    },
    targets: {
      type: 'object',
      minProperties: 1,
      propertyNames: name,
      additionalProperties: targetSchema,
    },
  },
};

export function editorSchema(kinds: Iterable<TaskKind>): JsonObject {
  const conditions: JsonObject[] = [];
  const names: string[] = [];
  for (const k of kinds) {
    names.push(k.name);
    conditions.push({
      if: { properties: { kind: { const: k.name } } },
      then: { properties: { params: k.paramsSchema } },
    });
  }
  const target = {
    ...targetSchema,
    properties: {
      ...(targetSchema.properties as JsonObject),
      kind: { enum: names, description: 'Task kind.' },
    },
    allOf: conditions,
  } as JsonObject;
  return {
    ...baseSchema,
    properties: {
      ...(baseSchema.properties as JsonObject),
      targets: { ...(baseSchema.properties as { targets: JsonObject }).targets, additionalProperties: target },
    },
  };
}
