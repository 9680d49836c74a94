import fs from 'node:fs';
import path from 'node:path';
import { Parser } from '@asyncapi/parser';
import { compileErrors, dereference, validate } from '@readme/openapi-parser';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { CLOSE_REASONS, HTTP_ERRORS, MAX_ERROR_DETAILS, PROTOCOL_ERRORS } from '../../src/errors.js';
import { healthBodySchema, readyBodySchema } from '../../src/http/routes/health.js';
import { sessionEndBodySchema } from '../../src/http/routes/sessions.js';
import {
  CHANNELS,
  CLIENT_MESSAGE_TYPES,
  CLOSE_CODES,
  clientMessageSchema,
  jobEventDataSchema,
  jobEventInputSchema,
  logEntryInputSchema,
  logEntrySchema,
  serverMessageSchema,
} from '../../src/protocol/index.js';
import { ROOT } from '../helpers/process.js';

const read = (file: string) => fs.readFileSync(path.join(ROOT, 'docs', file), 'utf8');

type Json = Record<string, any>;

/** Every zod object schema in a discriminated union, by its `type` literal. */
function byType(union: { options: readonly z.ZodType[] }): Map<string, z.ZodObject> {
  const map = new Map<string, z.ZodObject>();
  for (const option of union.options) {
    const object = option as z.ZodObject;
    map.set((object.shape.type as z.ZodLiteral<string>).value, object);
  }
  return map;
}

/** The doc's own JSON Schema as a validator, so an example that contradicts the doc's schema fails too. */
function docSchema(schema: Json): z.ZodType {
  return z.fromJSONSchema(stripExtensions(schema) as z.core.JSONSchema.JSONSchema);
}

/** Removes `x-…` keys (the AsyncAPI parser adds x-parser-schema-id) and documentation-only keys. */
function stripExtensions(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripExtensions);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([key]) => !key.startsWith('x-') && key !== 'examples' && key !== 'description')
      .map(([key, child]) => [key, stripExtensions(child)]),
  );
}

function expectValid(schema: z.ZodType, value: unknown, where: string): void {
  const result = schema.safeParse(value);
  expect(result.success, `${where}: ${result.success ? '' : JSON.stringify(result.error.issues)}`).toBe(true);
}

describe('docs/asyncapi.yaml', () => {
  let doc: Json;
  const clientTypes = byType(clientMessageSchema);
  const serverTypes = byType(serverMessageSchema);

  beforeAll(async () => {
    const { document, diagnostics } = await new Parser().parse(read('asyncapi.yaml'));
    // Errors and warnings both fail: 0 = error, 1 = warning (2 and 3 are hints).
    const problems = diagnostics.filter((d) => d.severity <= 1).map((d) => `${d.code}: ${d.message} at ${d.path.join('.')}`);
    expect(problems).toEqual([]);
    expect(document).toBeDefined();
    expect(document!.version()).toMatch(/^3\./);
    doc = document!.json() as Json;
  });

  const messages = () => Object.values(doc.components.messages as Record<string, Json>);

  it('documents every client and server message of the zod schemas, and no other', () => {
    expect(messages().map((m) => m.name).sort()).toEqual([...clientTypes.keys(), ...serverTypes.keys()].sort());
    expect([...clientTypes.keys()].sort()).toEqual([...CLIENT_MESSAGE_TYPES].sort());
  });

  it('has examples for every message, each accepted by the zod schema the server uses and by the doc itself', () => {
    for (const message of messages()) {
      const client = clientTypes.has(message.name);
      expect(message.examples?.length, `${message.name} has no example`).toBeGreaterThan(0);
      for (const example of message.examples) {
        const where = `${message.name} example ${example.name}`;
        expect(example.payload.type, where).toBe(message.name);
        expectValid(client ? clientMessageSchema : serverMessageSchema, example.payload, where);
        expectValid(docSchema(message.payload), example.payload, `${where} (the doc's payload schema)`);
      }
    }
  });

  it('gives each message the fields of its zod schema, with the same required ones', () => {
    for (const message of messages()) {
      const zodSchema = clientTypes.get(message.name) ?? serverTypes.get(message.name)!;
      const shape = zodSchema.shape as Record<string, z.ZodType>;
      expect(Object.keys(message.payload.properties).sort(), message.name).toEqual(Object.keys(shape).sort());
      const required = Object.keys(shape).filter((key) => !shape[key]!.safeParse(undefined).success);
      expect([...(message.payload.required ?? [])].sort(), message.name).toEqual(required.sort());
    }
  });

  it('lists every close code the server sends, with the reason text it sends', () => {
    const documented = doc.channels.stream['x-close-codes'] as Array<{ code: number; reason?: string; reconnect: boolean }>;
    expect(documented.map((c) => c.code).sort()).toEqual([...new Set(Object.values(CLOSE_CODES))].sort());
    for (const { code, reason } of Object.values(CLOSE_REASONS)) {
      expect(documented.find((c) => c.code === code)?.reason, `close code ${code}`).toBe(reason);
    }
    expect(documented.filter((c) => !c.reconnect).map((c) => c.code)).toEqual([CLOSE_CODES.SESSION_ENDED]);
  });

  it('lists every protocol error code the server sends, and no other', () => {
    const error = doc.components.messages.error as Json;
    expect([...error.payload.properties.code.enum].sort()).toEqual(Object.keys(PROTOCOL_ERRORS).sort());
    expect(error.examples.map((example: Json) => example.payload.code).sort()).toEqual(Object.keys(PROTOCOL_ERRORS).sort());
  });

  it('refers to the OpenAPI document for the HTTP side (ingest, the upgrade refusals)', () => {
    const ref = doc.info['x-http-api'] as string;
    expect(ref).toBe('./openapi.yaml');
    expect(fs.existsSync(path.join(ROOT, 'docs', ref))).toBe(true);
  });

  it('documents the query parameters of /ws', () => {
    const query = doc.channels.stream.bindings.ws.query.properties;
    expect(Object.keys(query).sort()).toEqual(['channels', 'since']);
    const pattern = new RegExp(query.channels.pattern);
    for (const channel of CHANNELS) expect(pattern.test(channel)).toBe(true);
    expect(pattern.test(CHANNELS.join(','))).toBe(true);
    expect(pattern.test('news')).toBe(false);
  });
});

/** The zod schemas the server's answers are built from, per `METHOD path status`. */
const logInput = logEntryInputSchema();
const REQUESTS: Record<string, z.ZodType> = {
  'post /api/logs': z.union([logInput, z.array(logInput), z.strictObject({ logs: z.array(logInput) })]),
  'post /api/jobs/events': jobEventInputSchema,
  'post /api/sessions/end': sessionEndBodySchema,
};
const RESPONSES: Record<string, z.ZodType> = {
  'post /api/logs 201': z.strictObject({ logs: z.array(logEntrySchema) }),
  'get /api/logs 200': z.strictObject({ logs: z.array(logEntrySchema), truncated: z.boolean().optional(), hasMore: z.boolean() }),
  'delete /api/logs 200': z.strictObject({ cleared: z.literal(true) }),
  'post /api/jobs/events 201': z.strictObject({ event: jobEventDataSchema }),
  'get /api/jobs 200': z.strictObject({ jobs: z.array(jobEventDataSchema) }),
  'post /api/sessions/end 200': z.strictObject({ ended: z.literal(true), socketsClosedHere: z.number().int().min(0) }),
  'get /ws 200': z.strictObject({ ok: z.literal(true) }),
  'get /healthz 200': healthBodySchema,
  'get /readyz 200': readyBodySchema,
  'get /readyz 503': readyBodySchema,
  'get /metrics 200': z.string().regex(/^(# (HELP|TYPE) livetail_\w+ .+|livetail_\w+\{[^}]*\} \d+(\.\d+)?)$/m),
};
/** An error body, as HttpError.toJSON writes it. */
const errorBody = z.strictObject({
  error: z.string().min(1),
  code: z.enum(Object.keys(HTTP_ERRORS) as [string, ...string[]]),
  details: z.array(z.unknown()).max(MAX_ERROR_DETAILS).optional(),
  detailsTotal: z.number().int().gt(MAX_ERROR_DETAILS).optional(),
});

describe('docs/openapi.yaml', () => {
  let doc: Json;
  const operations = () =>
    Object.entries(doc.paths as Record<string, Json>).flatMap(([route, item]) =>
      Object.entries(item).map(([method, operation]) => ({ key: `${method} ${route}`, operation: operation as Json })),
    );
  const examplesOf = (content: Json | undefined) =>
    Object.entries(content ?? {}).flatMap(([mediaType, media]) =>
      Object.entries((media as Json).examples ?? {}).map(([name, example]) => ({ mediaType, name, value: (example as Json).value, schema: (media as Json).schema })),
    );

  beforeAll(async () => {
    const source = parseYaml(read('openapi.yaml')) as Exclude<Parameters<typeof validate>[0], string>;
    const result = await validate(structuredClone(source));
    expect(result.valid, result.valid ? '' : compileErrors(result)).toBe(true);
    expect(result.warnings).toEqual([]);
    doc = (await dereference(structuredClone(source))) as Json;
  });

  it('documents the HTTP API: logs, jobs, the /ws upgrade, health, readiness and metrics', () => {
    expect(operations().map((o) => o.key).sort()).toEqual(
      ['post /api/logs', 'get /api/logs', 'delete /api/logs', 'post /api/jobs/events', 'get /api/jobs', 'post /api/sessions/end', 'get /ws', 'get /healthz', 'get /readyz', 'get /metrics'].sort(),
    );
  });

  it('has request examples the server accepts', () => {
    for (const { key, operation } of operations()) {
      if (!operation.requestBody) continue;
      const examples = examplesOf(operation.requestBody.content);
      expect(examples.length, `${key} request has no example`).toBeGreaterThan(0);
      for (const example of examples) {
        expectValid(REQUESTS[key]!, example.value, `${key} request ${example.name}`);
        expectValid(docSchema(example.schema), example.value, `${key} request ${example.name} (the doc's schema)`);
      }
    }
  });

  it('has response examples the server writes: bodies of its schemas, errors from the catalog with their status', () => {
    let errors = 0;
    for (const { key, operation } of operations()) {
      for (const [status, response] of Object.entries(operation.responses as Record<string, Json>)) {
        const examples = examplesOf(response.content);
        if (status !== '101') expect(examples.length, `${key} ${status} has no example`).toBeGreaterThan(0);
        for (const example of examples) {
          const where = `${key} ${status} ${example.name}`;
          const success = RESPONSES[`${key} ${status}`];
          if (success) {
            expectValid(success, example.value, where);
          } else {
            expectValid(errorBody, example.value, where);
            expect(HTTP_ERRORS[example.value.code as keyof typeof HTTP_ERRORS].status, `${where}: ${example.value.code}`).toBe(Number(status));
            errors++;
          }
          expectValid(docSchema(example.schema), example.value, `${where} (the doc's schema)`);
        }
      }
    }
    expect(errors).toBeGreaterThan(10);
  });

  it('shows an example of every HTTP error the API answers with', () => {
    const shown = new Set<string>();
    for (const { operation } of operations()) {
      for (const response of Object.values(operation.responses as Record<string, Json>)) {
        for (const example of examplesOf(response.content)) if (typeof example.value?.code === 'string') shown.add(example.value.code);
      }
    }
    // NOT_FOUND is any unknown path; the rest each belong to a documented route.
    expect([...Object.keys(HTTP_ERRORS)].filter((code) => !shown.has(code)).sort()).toEqual(['NOT_FOUND']);
  });
});
