import { describe, expect, it } from 'vitest';
import { openApiDocument } from '../../lambdas/openapi/openapi.ts';
import { API_ROUTES } from '../../lambdas/shared/routes.ts';

describe('OpenAPI document', () => {
  const doc = openApiDocument('https://api.example.com');

  it('is OpenAPI 3.1 with the API key scheme', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.components.securitySchemes.apiKey).toEqual({
      type: 'apiKey',
      in: 'header',
      name: 'x-api-key',
    });
  });

  it('describes every route of the route table, and nothing else', () => {
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(documented.sort()).toEqual(API_ROUTES.map((r) => `${r.method} ${r.path}`).sort());
  });

  it('gives every operation its success answer and the shared errors', () => {
    for (const route of API_ROUTES) {
      const op = (
        doc.paths[route.path] as Record<string, { responses: Record<string, unknown>; operationId: string }>
      )[route.method.toLowerCase()]!;
      expect(op.operationId).toBe(route.operationId);
      const codes = Object.keys(op.responses);
      expect(codes.some((c) => c.startsWith('2') || c.startsWith('3'))).toBe(true);
      expect(codes).toContain('500');
      if (route.operationId !== 'getOpenApi') expect(codes).toEqual(expect.arrayContaining(['400', '401']));
    }
  });

  it('references only schemas it defines', () => {
    const refs = [...JSON.stringify(doc).matchAll(/"#\/components\/schemas\/(\w+)"/g)].map((m) => m[1]!);
    for (const ref of new Set(refs)) expect(doc.components.schemas).toHaveProperty(ref);
  });
});
