import { makeOpenApiHandler } from './openapi.ts';

export const handler = makeOpenApiHandler();
