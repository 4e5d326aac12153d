/**
 * A minute-by-minute simulation of the worker fleet under its scaling plan (scaling-plan.ts):
 * pages arrive as work messages on the express and bulk queues, tasks boot (instance, image
 * pull, engine start), receive messages up to their concurrency and work through their pages at
 * a fixed seconds per page, CloudWatch samples the queues and the service each minute, the
 * alarms judge their datapoints M out of N, and the step policies change the desired count with
 * their cooldowns and the target's capacity limits. Deterministic: the same settings give the
 * same figures.
 */
import {
  type AlarmSpec,
  adjustedCapacity,
  alarmState,
  evaluateExpression,
  type ScalingPlan,
  type SimMetric,
  type StepPolicySpec,
  statistic,
  stepFor,
} from './scaling-plan.ts';

export interface Spike {
  /** Start, in hours after midnight UTC. */
  atHour: number;
  pages: number;
  minutes: number;
  queue: 'express' | 'bulk';
}

export interface SimSettings {
  pagesPerDay: number;
  /** Pages per work message (the deploy's chunkPages). */
  pagesPerMessage: number;
  /** One task's throughput (the deploy's secondsPerPage). */
  secondsPerPage: number;
  /** Messages a task holds at once (the worker's OCRQ_WORKER_CONCURRENCY). */
  concurrency: number;
  /** Share of the steady traffic sent to the express queue; the rest is bulk. */
  expressShare: number;
  /** Daily swing: pages per minute follow 1 + amplitude · cos(2π (t − peak) / 24 h). */
  diurnalAmplitude: number;
  peakHourUtc: number;
  /** Bursts on top of the curve; their pages count toward pagesPerDay. */
  spikes: Spike[];
  /** Capacity provider scale-out, EC2 launch and ECS agent registration, for a task with no free instance. */
  instanceBootSeconds: number;
  /** Pulling the image onto a fresh instance; an instance that ran the image before skips it. */
  imagePullSeconds: number;
  /** Container start to first receive: models and cached TensorRT engines loaded. */
  engineStartSeconds: number;
  /** How long an instance without a task stays before managed scaling terminates it. */
  instanceIdleSeconds: number;
  /** How late a minute's datapoint reaches the alarm. */
  metricDelaySeconds: number;
  /** Days simulated before the measured one, so the measured day starts from a steady state. */
  warmupDays: number;
  onDemandPerHour: number;
  spotPerHour: number;
}

interface Message {
  queue: 'express' | 'bulk';
  sentAt: number;
  remaining: number;
  pages: number;
}

type Phase = 'provisioning' | 'pulling' | 'starting' | 'running';

interface Instance {
  launchedAt: number;
  terminatedAt?: number;
  /** Ready for a task (booted and, once it ran one, holding the image). */
  readyAt: number;
  hasImage: boolean;
  idleSince?: number;
}

interface Task {
  instance: Instance;
  phases: { phase: Phase; until: number }[];
  inHand: Message[];
  draining: boolean;
  startedAt: number;
}

export interface MinuteSample {
  minute: number;
  desired: number;
  tasks: number;
  running: number;
  instances: number;
  visible: number;
  inFlight: number;
  oldestAgeSeconds: number;
  arrivedPages: number;
  donePages: number;
}

export interface SimResult {
  minutes: MinuteSample[];
  /** Sent → deleted, for the messages finished in the measured day. */
  messageLatencySeconds: number[];
  instanceSeconds: number;
  taskSeconds: number;
  pagesArrived: number;
  pagesDone: number;
  backlogPagesAtEnd: number;
  scalingActivities: { minute: number; policy: string; from: number; to: number }[];
}

const DAY_MINUTES = 1440;

/** Pages arriving in each minute of a day, per queue; the total is `pagesPerDay`. */
export function arrivalCurve(settings: SimSettings): { express: number[]; bulk: number[] } {
  const spikePages = settings.spikes.reduce((sum, spike) => sum + spike.pages, 0);
  if (spikePages > settings.pagesPerDay) throw new Error('the spikes hold more than a day of pages');
  const shape = Array.from(
    { length: DAY_MINUTES },
    (_, m) =>
      1 + settings.diurnalAmplitude * Math.cos((2 * Math.PI * (m - settings.peakHourUtc * 60)) / DAY_MINUTES),
  );
  const total = shape.reduce((a, b) => a + b, 0);
  const steady = shape.map((weight) => ((settings.pagesPerDay - spikePages) * weight) / total);
  const express = steady.map((pages) => pages * settings.expressShare);
  const bulk = steady.map((pages) => pages * (1 - settings.expressShare));
  for (const spike of settings.spikes) {
    const start = Math.round(spike.atHour * 60);
    for (let m = start; m < start + spike.minutes; m++) {
      (spike.queue === 'express' ? express : bulk)[m % DAY_MINUTES]! += spike.pages / spike.minutes;
    }
  }
  return { express, bulk };
}

const metricKey = (metric: SimMetric): string =>
  metric.source === 'sqs' ? `sqs:${metric.queue}:${metric.name}` : `ecs:${metric.name}`;

/** Nearest-rank percentile (p in 0–100) of an unsorted list; 0 for an empty one. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function simulate(plan: ScalingPlan, settings: SimSettings): SimResult {
  const curve = arrivalCurve(settings);
  const spp = settings.secondsPerPage;
  const totalMinutes = (settings.warmupDays + 1) * DAY_MINUTES;
  const measuredFrom = settings.warmupDays * DAY_MINUTES * 60;
  const delayMinutes = Math.ceil(settings.metricDelaySeconds / 60);

  const queues = { express: [] as Message[], bulk: [] as Message[] };
  const heads = { express: 0, bulk: 0 };
  const carry = { express: 0, bulk: 0 };
  const tasks: Task[] = [];
  const instances: Instance[] = [];
  let desired = plan.minCapacity;
  const samples = new Map<string, number[]>();
  const alarmStates = new Map<string, 'ALARM' | 'OK'>();
  const scaleOutCooldowns = new Map<string, { until: number; base: number }>();
  let scaleInBlockedUntil = 0;

  const result: SimResult = {
    minutes: [],
    messageLatencySeconds: [],
    instanceSeconds: 0,
    taskSeconds: 0,
    pagesArrived: 0,
    pagesDone: 0,
    backlogPagesAtEnd: 0,
    scalingActivities: [],
  };

  const record = (key: string, minute: number, value: number) => {
    const series = samples.get(key) ?? [];
    samples.set(key, series);
    series[minute] = value;
  };

  const phaseAt = (task: Task, time: number): Phase | 'done' =>
    task.phases.find((step) => time < step.until)?.phase ?? 'running';
  const readyAt = (task: Task) => task.phases.at(-1)?.until ?? task.startedAt;

  const startTask = (now: number) => {
    const free = instances.find(
      (instance) => instance.terminatedAt === undefined && instance.idleSince !== undefined,
    );
    let instance: Instance;
    const phases: Task['phases'] = [];
    if (free) {
      instance = free;
      instance.idleSince = undefined;
      const from = Math.max(now, instance.readyAt);
      if (instance.readyAt > now) phases.push({ phase: 'provisioning', until: instance.readyAt });
      if (!instance.hasImage) phases.push({ phase: 'pulling', until: from + settings.imagePullSeconds });
      phases.push({ phase: 'starting', until: (phases.at(-1)?.until ?? from) + settings.engineStartSeconds });
    } else {
      instance = { launchedAt: now, readyAt: now + settings.instanceBootSeconds, hasImage: false };
      instances.push(instance);
      phases.push({ phase: 'provisioning', until: instance.readyAt });
      phases.push({ phase: 'pulling', until: instance.readyAt + settings.imagePullSeconds });
      phases.push({
        phase: 'starting',
        until: instance.readyAt + settings.imagePullSeconds + settings.engineStartSeconds,
      });
    }
    instance.hasImage = true;
    tasks.push({ instance, phases, inHand: [], draining: false, startedAt: now });
  };

  const stopTask = (task: Task, now: number) => {
    tasks.splice(tasks.indexOf(task), 1);
    task.instance.idleSince = Math.max(now, task.instance.readyAt);
  };

  /** Scale-in order: tasks not yet started, then idle ones at once, then busy ones drain. */
  const reconcile = (now: number) => {
    const active = tasks.filter((task) => !task.draining);
    for (let n = active.length; n < desired; n++) startTask(now);
    let surplus = active.length - desired;
    if (surplus <= 0) return;
    const rank = (task: Task) => {
      const phase = phaseAt(task, now);
      return phase === 'provisioning' || phase === 'pulling' ? 0 : task.inHand.length === 0 ? 1 : 2;
    };
    for (const task of [...active].sort((a, b) => rank(a) - rank(b))) {
      if (surplus-- <= 0) break;
      if (rank(task) < 2) stopTask(task, now);
      else task.draining = true;
    }
  };

  const headOf = (queue: 'express' | 'bulk') => queues[queue][heads[queue]];
  const receive = (queue: 'express' | 'bulk', now: number): Message | undefined => {
    const message = headOf(queue);
    if (!message || message.sentAt > now) return undefined;
    heads[queue]++;
    return message;
  };

  const doneThisMinute: number[] = [];
  const work = (task: Task, from: number, to: number, minute: number) => {
    let cursor = from;
    const measured = from >= measuredFrom;
    while (cursor < to) {
      if (!task.draining) {
        while (task.inHand.length < settings.concurrency) {
          const message = receive('express', cursor) ?? receive('bulk', cursor);
          if (!message) break;
          task.inHand.push(message);
        }
      }
      const current = task.inHand[0];
      if (!current) {
        if (task.draining) {
          stopTask(task, cursor);
          return;
        }
        const next = [headOf('express'), headOf('bulk')]
          .filter((message): message is Message => message !== undefined)
          .map((message) => message.sentAt)
          .filter((sentAt) => sentAt < to);
        if (next.length === 0) return;
        cursor = Math.max(cursor, Math.min(...next));
        continue;
      }
      const need = current.remaining * spp;
      if (cursor + need <= to) {
        cursor += need;
        task.inHand.shift();
        if (measured) {
          result.pagesDone += current.remaining;
          result.messageLatencySeconds.push(cursor - current.sentAt);
        }
        current.remaining = 0;
        doneThisMinute[minute] = (doneThisMinute[minute] ?? 0) + current.pages;
      } else {
        const pages = (to - cursor) / spp;
        current.remaining -= pages;
        if (measured) result.pagesDone += pages;
        cursor = to;
      }
    }
  };
  const datapoint = (alarm: AlarmSpec, endMinute: number): number | null => {
    const periodMinutes = alarm.periodSeconds / 60;
    const values: Record<string, number | null> = {};
    let returned: number | null = null;
    for (const query of alarm.queries) {
      if (!query.metric) continue;
      const series = samples.get(metricKey(query.metric)) ?? [];
      const window: number[] = [];
      for (let m = endMinute - periodMinutes; m < endMinute; m++) {
        const value = series[m];
        if (value !== undefined) window.push(value);
      }
      values[query.id] = statistic(query.stat ?? 'Average', window);
      if (query.returnData) returned = values[query.id] ?? null;
    }
    for (const query of alarm.queries) {
      if (query.expression === undefined) continue;
      const value = evaluateExpression(query.expression, values);
      values[query.id] = typeof value === 'number' ? value : null;
      if (query.returnData) returned = values[query.id] ?? null;
    }
    return returned;
  };

  const invoke = (policy: StepPolicySpec, alarm: AlarmSpec, value: number, now: number, minute: number) => {
    const step = stepFor(policy, alarm.comparison, value - alarm.threshold);
    if (!step) return;
    const clamp = (n: number) => Math.min(plan.maxCapacity, Math.max(plan.minCapacity, n));
    const current = desired;
    let wanted = clamp(adjustedCapacity(policy, step.adjustment, current));
    if (wanted > current) {
      // Application Auto Scaling: during a scale-out cooldown, what the initiating activity
      // added counts toward the next one, so only a larger step adds the difference.
      const cooldown = scaleOutCooldowns.get(policy.logicalId);
      if (cooldown && now < cooldown.until) {
        wanted = clamp(adjustedCapacity(policy, step.adjustment, cooldown.base));
        if (wanted <= current) return;
      } else {
        scaleOutCooldowns.set(policy.logicalId, { until: now + policy.cooldownSeconds, base: current });
      }
      scaleInBlockedUntil = 0; // a scale-out ends any scale-in cooldown
    } else if (wanted < current) {
      if (now < scaleInBlockedUntil) return;
      scaleInBlockedUntil = now + policy.cooldownSeconds;
    } else {
      return;
    }
    desired = wanted;
    result.scalingActivities.push({ minute, policy: policy.logicalId, from: current, to: wanted });
  };

  for (let minute = 0; minute < totalMinutes; minute++) {
    const t0 = minute * 60;
    const t1 = t0 + 60;
    const measured = t0 >= measuredFrom;
    let arrivedPages = 0;
    const sent = { express: 0, bulk: 0 };
    for (const queue of ['express', 'bulk'] as const) {
      carry[queue] += curve[queue][minute % DAY_MINUTES]! / settings.pagesPerMessage;
      const count = Math.floor(carry[queue]);
      carry[queue] -= count;
      sent[queue] = count;
      for (let i = 0; i < count; i++) {
        queues[queue].push({
          queue,
          sentAt: t0 + ((i + 0.5) / count) * 60,
          remaining: settings.pagesPerMessage,
          pages: settings.pagesPerMessage,
        });
      }
      arrivedPages += count * settings.pagesPerMessage;
    }
    if (measured) result.pagesArrived += arrivedPages;

    for (const task of [...tasks]) {
      const ready = readyAt(task);
      if (ready < t1) work(task, Math.max(t0, ready), t1, minute);
    }

    for (const instance of instances) {
      if (instance.terminatedAt !== undefined) continue;
      if (instance.idleSince !== undefined && t1 - instance.idleSince >= settings.instanceIdleSeconds)
        instance.terminatedAt = instance.idleSince + settings.instanceIdleSeconds;
      if (measured) {
        const end = Math.min(t1, instance.terminatedAt ?? t1);
        result.instanceSeconds += Math.max(0, end - Math.max(t0, instance.launchedAt));
      }
    }
    if (measured) {
      for (const task of tasks) result.taskSeconds += Math.max(0, t1 - Math.max(t0, readyAt(task)));
    }

    // CloudWatch's view at the end of the minute.
    let oldest = Number.POSITIVE_INFINITY;
    let visibleTotal = 0;
    let inFlightTotal = 0;
    for (const queue of ['express', 'bulk'] as const) {
      const visible = queues[queue].length - heads[queue];
      const inHand = tasks.flatMap((task) => task.inHand.filter((message) => message.queue === queue));
      const firstSent = Math.min(
        headOf(queue)?.sentAt ?? Number.POSITIVE_INFINITY,
        ...inHand.map((message) => message.sentAt),
      );
      oldest = Math.min(oldest, firstSent);
      visibleTotal += visible;
      inFlightTotal += inHand.length;
      record(`sqs:${queue}:ApproximateNumberOfMessagesVisible`, minute, visible);
      record(`sqs:${queue}:ApproximateNumberOfMessagesNotVisible`, minute, inHand.length);
      record(
        `sqs:${queue}:ApproximateAgeOfOldestMessage`,
        minute,
        Number.isFinite(firstSent) ? t1 - firstSent : 0,
      );
      record(`sqs:${queue}:NumberOfMessagesSent`, minute, sent[queue]);
    }
    const started = tasks.filter((task) => ['starting', 'running'].includes(phaseAt(task, t1))).length;
    record('ecs:RunningTaskCount', minute, started);
    record('ecs:PendingTaskCount', minute, tasks.length - started);
    record('ecs:DesiredTaskCount', minute, desired);

    // Alarms see datapoints up to the metric delay ago, per aligned period.
    for (const alarm of plan.alarms) {
      const periodMinutes = alarm.periodSeconds / 60;
      const newestEnd = Math.floor((minute + 1 - delayMinutes) / periodMinutes) * periodMinutes;
      const points: (number | null)[] = [];
      for (let k = alarm.evaluationPeriods - 1; k >= 0; k--) {
        const end = newestEnd - k * periodMinutes;
        points.push(end - periodMinutes < 0 ? null : datapoint(alarm, end));
      }
      const state = alarmState(alarm, points) ?? alarmStates.get(alarm.logicalId) ?? 'OK';
      alarmStates.set(alarm.logicalId, state);
      const latest = points.at(-1);
      // Auto Scaling actions are invoked every minute the alarm stays in ALARM, not only on entry.
      if (state !== 'ALARM' || latest === null || latest === undefined) continue;
      for (const id of alarm.policies) invoke(plan.policies.get(id)!, alarm, latest, t1, minute);
    }
    reconcile(t1);

    if (measured) {
      result.minutes.push({
        minute: minute - settings.warmupDays * DAY_MINUTES,
        desired,
        tasks: tasks.length,
        running: started,
        instances: instances.filter((instance) => instance.terminatedAt === undefined).length,
        visible: visibleTotal,
        inFlight: inFlightTotal,
        oldestAgeSeconds: Number.isFinite(oldest) ? t1 - oldest : 0,
        arrivedPages,
        donePages: doneThisMinute[minute] ?? 0,
      });
    }
  }
  for (const queue of ['express', 'bulk'] as const) {
    for (let i = heads[queue]; i < queues[queue].length; i++)
      result.backlogPagesAtEnd += queues[queue][i]!.remaining;
  }
  for (const task of tasks) for (const message of task.inHand) result.backlogPagesAtEnd += message.remaining;
  return result;
}

export interface SimSummary {
  pagesPerDay: number;
  gpuHours: number;
  costPer1000PagesOnDemand: number;
  costPer1000PagesSpot: number;
  oldestAgeP50S: number;
  oldestAgeP99S: number;
  maxTasks: number;
  taskHours: number;
  messageLatencyP50S: number;
  messageLatencyP99S: number;
  pagesDone: number;
  backlogPagesAtEnd: number;
  scalingActivities: number;
}

export function summarize(result: SimResult, settings: SimSettings): SimSummary {
  const gpuHours = result.instanceSeconds / 3600;
  const per1000 = (price: number) =>
    result.pagesDone > 0 ? (gpuHours * price * 1000) / result.pagesDone : 0;
  const ages = result.minutes.map((sample) => sample.oldestAgeSeconds);
  return {
    pagesPerDay: settings.pagesPerDay,
    gpuHours,
    costPer1000PagesOnDemand: per1000(settings.onDemandPerHour),
    costPer1000PagesSpot: per1000(settings.spotPerHour),
    oldestAgeP50S: percentile(ages, 50),
    oldestAgeP99S: percentile(ages, 99),
    maxTasks: Math.max(0, ...result.minutes.map((sample) => sample.tasks)),
    taskHours: result.taskSeconds / 3600,
    messageLatencyP50S: percentile(result.messageLatencySeconds, 50),
    messageLatencyP99S: percentile(result.messageLatencySeconds, 99),
    pagesDone: result.pagesDone,
    backlogPagesAtEnd: result.backlogPagesAtEnd,
    scalingActivities: result.scalingActivities.length,
  };
}
