import { describe, expect, it } from 'vitest';
import { configToEnv, loadConfig } from '../../lambdas/shared/config.ts';
import { sniffContentType } from '../../lambdas/shared/documents/file-types.ts';
import { ConfigError } from '../../lambdas/shared/errors.ts';
import { corsHeaders } from '../../lambdas/shared/http.ts';
import { InvalidMessageError, parseWorkMessage } from '../../lambdas/shared/messages.ts';
import { objectKeys } from '../../lambdas/shared/resources.ts';
import { TEST_CONFIG } from '../support/runtime.ts';

describe('configuration', () => {
  const env = configToEnv(TEST_CONFIG);

  it('reads back what configToEnv writes', () => {
    expect(loadConfig(env)).toEqual(TEST_CONFIG);
  });

  it('names every missing or invalid variable at start', () => {
    const { OCRQ_TABLE_NAME: _, ...missing } = env;
    expect(() => loadConfig(missing)).toThrow(/OCRQ_TABLE_NAME/);
    expect(() => loadConfig({ ...env, OCRQ_MAX_UPLOAD_BYTES: 'lots' })).toThrow(ConfigError);
    expect(() => loadConfig({ ...env, OCRQ_EXPRESS_QUEUE_URL: 'not a url' })).toThrow(
      /OCRQ_EXPRESS_QUEUE_URL/,
    );
  });

  it('falls back to the express queue when no bulk queue is configured', () => {
    const { OCRQ_BULK_QUEUE_URL: _, ...env1 } = env;
    expect(loadConfig(env1).queues.bulk).toBe(TEST_CONFIG.queues.express);
  });
});

describe('sniffContentType', () => {
  it.each([
    [[0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'image/png'],
    [[0xff, 0xd8, 0xff, 0xe0], 'image/jpeg'],
    [[0x49, 0x49, 0x2a, 0x00], 'image/tiff'],
    [[0x4d, 0x4d, 0x00, 0x2a], 'image/tiff'],
    [[0x52, 0x49, 0x46, 0x46, 1, 2, 3, 4, 0x57, 0x45, 0x42, 0x50], 'image/webp'],
    [[...Buffer.from('%PDF-1.7')], 'application/pdf'],
    [[0x52, 0x49, 0x46, 0x46, 1, 2, 3, 4, 0x57, 0x41, 0x56, 0x45], undefined],
    [[...Buffer.from('hello')], undefined],
    [[], undefined],
  ])('%j → %s', (bytes, type) => {
    expect(sniffContentType(Uint8Array.from(bytes))).toBe(type);
  });
});

describe('work messages', () => {
  const valid = {
    v: 1,
    tenantId: 't',
    jobId: 'j',
    inputKey: 'inputs/t/j/source',
    contentType: 'image/png',
    chunk: { index: 0, firstPage: 1, pageCount: 1 },
    enqueuedAt: '2026-01-01T00:00:00Z',
  };

  it('parses a valid message', () => {
    expect(parseWorkMessage(JSON.stringify(valid))).toEqual(valid);
  });

  it.each([
    ['not JSON', '{'],
    ['a wrong version', JSON.stringify({ ...valid, v: 2 })],
    ['a missing job id', JSON.stringify({ ...valid, jobId: undefined })],
    ['a bad chunk', JSON.stringify({ ...valid, chunk: { index: -1, firstPage: 0, pageCount: 1 } })],
  ])('refuses %s', (_, body) => {
    expect(() => parseWorkMessage(body)).toThrow(InvalidMessageError);
  });
});

describe('object keys', () => {
  it('round-trips input keys and refuses others', () => {
    expect(objectKeys.parseInput(objectKeys.input('t1', 'j1'))).toEqual({ tenantId: 't1', jobId: 'j1' });
    expect(objectKeys.parseInput('results/t1/j1/result.json')).toBeUndefined();
    expect(objectKeys.parseInput('inputs/t1/j1/source/extra')).toBeUndefined();
  });
});

describe('corsHeaders', () => {
  const from = (origin?: string) => ({ headers: origin ? { Origin: origin } : {} });
  it('answers only the origins a deployment allows', () => {
    expect(corsHeaders(from('https://app.example.com'), [])).toEqual({});
    expect(corsHeaders(from('https://evil.example.com'), ['https://app.example.com'])).toEqual({});
    expect(
      corsHeaders(from('https://app.example.com'), ['https://a.example.com', 'https://app.example.com']),
    ).toEqual({
      'access-control-allow-origin': 'https://app.example.com',
      vary: 'Origin',
    });
    expect(corsHeaders(from(), ['*'])).toEqual({ 'access-control-allow-origin': '*' });
  });
});
