import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS } from '../../lambdas/shared/config.ts';
import {
  parseSettings,
  SETTING_KEYS,
  SETTINGS_DEFAULTS,
  scaleOutBacklogPerTask,
} from '../../lib/settings.ts';

describe('deployment settings', () => {
  it('has a default for every setting, with no "*" origin', () => {
    expect(SETTINGS_DEFAULTS).toEqual({
      instanceTypes: ['g6.xlarge', 'g5.xlarge', 'g4dn.xlarge'],
      onDemandPercent: 0,
      maxTasks: 12,
      acceptableLatencySeconds: 300,
      secondsPerPage: 0.25,
      idleMinutes: 10,
      executionProviders: 'tensorrt,cuda,cpu',
      allowedOrigins: [],
      logRetentionDays: 30,
      chunkPages: DEFAULT_LIMITS.chunkPages,
      egress: 'nat',
      multipartThresholdBytes: 50 * 1024 * 1024,
      multipartPartBytes: 8 * 1024 * 1024,
      maxMultipartUploadBytes: 5 * 1024 ** 3,
      textract: true,
      webhookTimeoutSeconds: 10,
      webhookRetryHours: 24,
      webhookSecretGraceHours: 24,
    });
    expect(SETTING_KEYS.sort()).toEqual(Object.keys(SETTINGS_DEFAULTS).sort());
  });

  it('reads `-c key=value` strings and cdk.json values alike, ignoring other context', () => {
    const fromCommandLine = parseSettings({
      instanceTypes: 'g6.2xlarge, g5.2xlarge',
      onDemandPercent: '25',
      maxTasks: '8',
      secondsPerPage: '0.4',
      executionProviders: 'cuda,cpu',
      allowedOrigins: 'https://app.example.com,http://localhost:5173',
      logRetentionDays: '7',
      egress: 'endpoints',
      '@aws-cdk/core:explicitStackTags': true,
    });
    expect(fromCommandLine).toMatchObject({
      instanceTypes: ['g6.2xlarge', 'g5.2xlarge'],
      onDemandPercent: 25,
      maxTasks: 8,
      secondsPerPage: 0.4,
      executionProviders: 'cuda,cpu',
      allowedOrigins: ['https://app.example.com', 'http://localhost:5173'],
      logRetentionDays: 7,
      egress: 'endpoints',
    });
    expect(parseSettings({ instanceTypes: ['g6.xlarge'], maxTasks: 2 })).toMatchObject({
      instanceTypes: ['g6.xlarge'],
      maxTasks: 2,
    });
    expect(parseSettings({ maxTasks: '', idleMinutes: null })).toEqual(SETTINGS_DEFAULTS);
  });

  it.each([
    [{ instanceTypes: 'g6.xlarge,g5.2xlarge' }, 'instanceTypes: instance types must share one size'],
    [{ instanceTypes: 'g6' }, 'instanceTypes.0'],
    [{ onDemandPercent: 101 }, 'onDemandPercent'],
    [{ maxTasks: 0 }, 'maxTasks'],
    [{ maxTasks: 'many' }, 'maxTasks'],
    [{ acceptableLatencySeconds: 5 }, 'acceptableLatencySeconds'],
    [{ secondsPerPage: 0 }, 'secondsPerPage'],
    [{ idleMinutes: 1.5 }, 'idleMinutes'],
    [{ executionProviders: 'rocm,cpu' }, 'executionProviders.0'],
    [{ allowedOrigins: 'app.example.com' }, 'allowedOrigins.0'],
    [{ logRetentionDays: 10 }, "logRetentionDays: one of CloudWatch Logs' retention periods"],
    [{ chunkPages: 0 }, 'chunkPages'],
    [{ egress: 'vpn' }, 'egress'],
    [{ webhookTimeoutSeconds: 30 }, 'webhookTimeoutSeconds'],
    [{ webhookRetryHours: 0 }, 'webhookRetryHours'],
  ])('refuses %j, naming the key', (input, message) => {
    expect(() => parseSettings(input)).toThrow(message);
  });

  it('accepts "*" as an origin only when it is asked for', () => {
    expect(parseSettings({ allowedOrigins: '*' }).allowedOrigins).toEqual(['*']);
  });

  describe('scale-out backlog per task', () => {
    it('is the messages a task clears within the acceptable latency', () => {
      expect(scaleOutBacklogPerTask(SETTINGS_DEFAULTS)).toBe(150); // 300 / (8 × 0.25)
      expect(
        scaleOutBacklogPerTask({ acceptableLatencySeconds: 60, chunkPages: 8, secondsPerPage: 0.5 }),
      ).toBe(15);
      expect(
        scaleOutBacklogPerTask({ acceptableLatencySeconds: 100, chunkPages: 3, secondsPerPage: 1 }),
      ).toBe(33);
    });

    it('is never below one message', () => {
      expect(
        scaleOutBacklogPerTask({ acceptableLatencySeconds: 30, chunkPages: 100, secondsPerPage: 5 }),
      ).toBe(1);
    });
  });
});
