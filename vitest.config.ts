import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    env: {
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      // The engine's rewritten-model cache: in the temp folder, not the user's ~/.cache.
      OCRQ_MODEL_CACHE_DIR: join(tmpdir(), 'ocr-pipeline-test-model-cache'),
    },
  },
});
