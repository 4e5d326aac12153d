/**
 * Scaling benchmark: a simulated day of the worker fleet under the scaling policy exactly as the
 * stack synthesizes it (alarms, thresholds, periods, steps, cooldowns and capacity limits are
 * read from the template, so the simulation cannot drift from what deploys), at 1M pages a day
 * on a diurnal curve with two spikes. Prints tasks over the day, the oldest-message age p50/p99,
 * GPU-hours and the cost per 1,000 pages at on-demand and spot prices.
 *
 *   npm run bench:scaling -- [--json FILE] [--context key=value …] [--sweep key=v1,v2,…]
 *     [--pages-per-day N] [--seconds-per-page S] [--boot-seconds S] [--pull-seconds S] …
 *
 * `--context` sets deployment settings (lib/settings.ts) for the synthesized stack, as `cdk deploy
 * -c` would; `--sweep` synthesizes and simulates once per value and prints one row each.
 */
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { App } from 'aws-cdk-lib';
import type { CfnQueue, Queue } from 'aws-cdk-lib/aws-sqs';
import { Command } from 'commander';
import { OcrPipelineStack } from '../lib/ocr-pipeline-stack.ts';
import { SETTING_KEYS, type Settings } from '../lib/settings.ts';
import { type QueueRoles, readScalingPlan, type ScalingPlan } from './scaling-plan.ts';
import { type SimResult, type SimSettings, type SimSummary, simulate, summarize } from './scaling-sim.ts';

const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));

/**
 * What the simulation assumes besides the template. Boot times are estimates for a GPU instance
 * launched by the capacity provider (managed scaling reacts in about a minute, EC2 launch and ECS
 * agent registration take two to three) and a CUDA image of several GB pulled from ECR.
 */
export const DEFAULT_SIM_SETTINGS: Omit<SimSettings, 'pagesPerMessage' | 'secondsPerPage'> = {
  pagesPerDay: 1_000_000,
  concurrency: 4, // the worker's OCRQ_WORKER_CONCURRENCY default
  expressShare: 0.25,
  diurnalAmplitude: 0.6, // the quietest hour sees a quarter of the busiest one's pages
  peakHourUtc: 14,
  spikes: [
    { atHour: 9.5, pages: 60_000, minutes: 10, queue: 'bulk' },
    { atHour: 16, pages: 30_000, minutes: 5, queue: 'express' },
  ],
  instanceBootSeconds: 240,
  imagePullSeconds: 120,
  engineStartSeconds: 30,
  instanceIdleSeconds: 900, // managed scaling's scale-in alarm wants 15 minutes below target
  metricDelaySeconds: 60,
  warmupDays: 1,
  // g6.xlarge, Linux, us-east-1: the EC2 on-demand price list ($0.8048/h). Spot moves by zone and
  // hour; $0.35 is an assumption to replace with the console's Spot pricing history.
  onDemandPerHour: 0.8048,
  spotPerHour: 0.35,
};

/**
 * The stack as `cdk synth -c key=value …` builds it (bin/app.ts hands the context's setting keys
 * to the stack), minus asset bundling, and which logical ids are the express and bulk queues.
 */
export function synthesizeTemplate(
  context: Record<string, string>,
  outdir: string,
): {
  template: { Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }> };
  settings: Settings;
  queueRoles: QueueRoles;
} {
  const cdkJson = JSON.parse(readFileSync(join(REPO_ROOT, 'cdk.json'), 'utf8')) as {
    context?: Record<string, unknown>;
  };
  const app = new App({
    outdir,
    context: {
      ...cdkJson.context,
      ...context,
      'aws:cdk:bundling-stacks': [],
      '@aws-cdk/core:validateAgainstDefaultRules': false,
    },
  });
  const stack = new OcrPipelineStack(app, 'ScalingBench', {
    env: { account: '123456789012', region: 'us-east-1' },
    deployment: Object.fromEntries(SETTING_KEYS.map((key) => [key, app.node.tryGetContext(key)])),
  });
  const logicalId = (queue: Queue) => stack.getLogicalId(queue.node.defaultChild as CfnQueue);
  const template = app.synth().getStackByName(stack.stackName).template;
  return {
    template,
    settings: stack.deployment,
    queueRoles: { [logicalId(stack.queues.express)]: 'express', [logicalId(stack.queues.bulk)]: 'bulk' },
  };
}

function parsePairs(pairs: string[]): Record<string, string> {
  return Object.fromEntries(
    pairs.map((pair) => {
      const at = pair.indexOf('=');
      if (at < 1) throw new Error(`expected key=value, got "${pair}"`);
      return [pair.slice(0, at), pair.slice(at + 1)];
    }),
  );
}

const hhmm = (minute: number) =>
  `${String(Math.floor(minute / 60)).padStart(2, '0')}:${String(minute % 60).padStart(2, '0')}`;

function hourlyTable(result: SimResult): string[] {
  const lines = ['hour   pages in  pages done  tasks avg  tasks max  visible max  oldest age max (s)'];
  for (let hour = 0; hour < 24; hour++) {
    const minutes = result.minutes.filter((sample) => Math.floor(sample.minute / 60) === hour);
    const sum = (pick: (s: (typeof minutes)[number]) => number) => minutes.reduce((a, s) => a + pick(s), 0);
    const max = (pick: (s: (typeof minutes)[number]) => number) => Math.max(0, ...minutes.map(pick));
    lines.push(
      [
        hhmm(hour * 60).padEnd(5),
        String(sum((s) => s.arrivedPages)).padStart(9),
        String(Math.round(sum((s) => s.donePages))).padStart(11),
        (sum((s) => s.tasks) / Math.max(1, minutes.length)).toFixed(2).padStart(10),
        String(max((s) => s.tasks)).padStart(10),
        String(max((s) => s.visible)).padStart(12),
        max((s) => s.oldestAgeSeconds)
          .toFixed(0)
          .padStart(19),
      ].join(' '),
    );
  }
  return lines;
}

function summaryLines(summary: SimSummary): string[] {
  return [
    `pages/day ${summary.pagesPerDay.toLocaleString('en-US')}, done in the day ${Math.round(summary.pagesDone).toLocaleString('en-US')}, left at midnight ${Math.round(summary.backlogPagesAtEnd).toLocaleString('en-US')}`,
    `oldest message age p50 ${summary.oldestAgeP50S.toFixed(0)} s, p99 ${summary.oldestAgeP99S.toFixed(0)} s; message sent→done p50 ${summary.messageLatencyP50S.toFixed(0)} s, p99 ${summary.messageLatencyP99S.toFixed(0)} s`,
    `max tasks ${summary.maxTasks}; GPU-hours ${summary.gpuHours.toFixed(1)} (tasks up ${summary.taskHours.toFixed(1)} h); scaling activities ${summary.scalingActivities}`,
    `cost per 1,000 pages: $${summary.costPer1000PagesOnDemand.toFixed(4)} on demand, $${summary.costPer1000PagesSpot.toFixed(4)} spot`,
  ];
}

async function main(): Promise<void> {
  const collect = (value: string, all: string[]) => [...all, value];
  const opts = new Command()
    .option('--json <file>', 'write the figures as JSON too')
    .option(
      '--context <key=value>',
      'a deployment setting for the synthesized stack, repeatable',
      collect,
      [],
    )
    .option('--sweep <key=v1,v2>', 'simulate once per value of one deployment setting')
    .option('--pages-per-day <n>', 'pages a day', Number)
    .option(
      '--seconds-per-page <s>',
      "one task's real throughput (default: the deploy's secondsPerPage)",
      Number,
    )
    .option('--boot-seconds <s>', 'capacity provider + EC2 launch + ECS agent, per new instance', Number)
    .option('--pull-seconds <s>', 'image pull on a fresh instance', Number)
    .option('--engine-start-seconds <s>', 'container start to first receive', Number)
    .option(
      '--instance-idle-seconds <s>',
      'an empty instance lives this long before managed scaling ends it',
      Number,
    )
    .option('--metric-delay-seconds <s>', "how late a minute's datapoint reaches the alarms", Number)
    .option('--on-demand-price <usd>', 'per instance-hour', Number)
    .option('--spot-price <usd>', 'per instance-hour', Number)
    .parse()
    .opts<{
      json?: string;
      context: string[];
      sweep?: string;
      pagesPerDay?: number;
      secondsPerPage?: number;
      bootSeconds?: number;
      pullSeconds?: number;
      engineStartSeconds?: number;
      instanceIdleSeconds?: number;
      metricDelaySeconds?: number;
      onDemandPrice?: number;
      spotPrice?: number;
    }>();
  const context = parsePairs(opts.context);
  const overrides: Partial<SimSettings> = Object.fromEntries(
    Object.entries({
      pagesPerDay: opts.pagesPerDay,
      instanceBootSeconds: opts.bootSeconds,
      imagePullSeconds: opts.pullSeconds,
      engineStartSeconds: opts.engineStartSeconds,
      instanceIdleSeconds: opts.instanceIdleSeconds,
      metricDelaySeconds: opts.metricDelaySeconds,
      onDemandPerHour: opts.onDemandPrice,
      spotPerHour: opts.spotPrice,
    }).filter(([, value]) => value !== undefined),
  );

  const outdir = await mkdtemp(join(tmpdir(), 'bench-scaling-'));
  const run = (runContext: Record<string, string>) => {
    const { template, settings, queueRoles } = synthesizeTemplate(runContext, outdir);
    const plan: ScalingPlan = readScalingPlan(template, queueRoles);
    const simSettings: SimSettings = {
      ...DEFAULT_SIM_SETTINGS,
      pagesPerMessage: settings.chunkPages,
      secondsPerPage: opts.secondsPerPage ?? settings.secondsPerPage,
      ...overrides,
    };
    const result = simulate(plan, simSettings);
    return { plan, simSettings, result, summary: summarize(result, simSettings) };
  };

  try {
    if (opts.sweep) {
      const [key, list] = opts.sweep.split('=');
      if (!key || !list) throw new Error('--sweep wants key=v1,v2,…');
      const rows = list.split(',').map((value) => ({ value, ...run({ ...context, [key]: value }) }));
      console.log(
        `${key.padEnd(12)} GPU-h  $/1k OD  $/1k spot  age p50  age p99  done→ p99  max tasks  left`,
      );
      for (const { value, summary: s } of rows) {
        console.log(
          [
            value.padEnd(12),
            s.gpuHours.toFixed(1).padStart(5),
            s.costPer1000PagesOnDemand.toFixed(4).padStart(7),
            s.costPer1000PagesSpot.toFixed(4).padStart(9),
            s.oldestAgeP50S.toFixed(0).padStart(8),
            s.oldestAgeP99S.toFixed(0).padStart(8),
            s.messageLatencyP99S.toFixed(0).padStart(10),
            String(s.maxTasks).padStart(10),
            String(Math.round(s.backlogPagesAtEnd)).padStart(5),
          ].join(' '),
        );
      }
      if (opts.json) {
        await mkdir(dirname(opts.json), { recursive: true });
        const sweep = rows.map(({ value, summary, simSettings }) => ({
          [key]: value,
          ...summary,
          simSettings,
        }));
        await writeFile(opts.json, `${JSON.stringify({ sweep: key, rows: sweep }, null, 2)}\n`);
      }
      return;
    }
    const { plan, simSettings, result, summary } = run(context);
    console.log(
      `policy from the template: ${plan.alarms.length} alarms, capacity ${plan.minCapacity}–${plan.maxCapacity}; ` +
        `${simSettings.secondsPerPage} s/page, ${simSettings.pagesPerMessage} pages/message, ` +
        `boot ${simSettings.instanceBootSeconds} + pull ${simSettings.imagePullSeconds} + start ${simSettings.engineStartSeconds} s`,
    );
    for (const alarm of plan.alarms) {
      const expression = alarm.queries.find((query) => query.returnData)?.expression ?? alarm.queries[0]?.id;
      console.log(
        `  ${alarm.logicalId}: ${expression} ${alarm.comparison} ${alarm.threshold}, ` +
          `${alarm.datapointsToAlarm} of ${alarm.evaluationPeriods} × ${alarm.periodSeconds} s → ` +
          alarm.policies
            .map((id) => {
              const policy = plan.policies.get(id)!;
              const steps = policy.steps
                .map((step) => `[${step.lower ?? '-∞'}, ${step.upper ?? '∞'}) ${step.adjustment}`)
                .join(' ');
              return `${policy.adjustmentType} ${steps}, cooldown ${policy.cooldownSeconds} s`;
            })
            .join('; '),
      );
    }
    console.log('');
    for (const line of hourlyTable(result)) console.log(line);
    console.log('');
    for (const line of summaryLines(summary)) console.log(line);
    if (opts.json) {
      await mkdir(dirname(opts.json), { recursive: true });
      await writeFile(
        opts.json,
        `${JSON.stringify({ ...summary, settings: simSettings, context }, null, 2)}\n`,
      );
    }
  } finally {
    await rm(outdir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
