import type { App, Stack } from 'aws-cdk-lib';
import { GpuCapacity } from '../../lib/constructs/gpu-capacity.ts';
import { WorkerNetwork } from '../../lib/constructs/network.ts';
import { WorkerScaling } from '../../lib/constructs/worker-scaling.ts';
import { WorkerService } from '../../lib/constructs/worker-service.ts';
import { parseSettings, type SettingsInput, scaleOutBacklogPerTask } from '../../lib/settings.ts';
import { pipelineResources, testApp, testStack } from './support.ts';

/** The worker fleet's constructs wired as the stack wires them, with the pipeline's real resources. */
export function fleetStack(input: SettingsInput = {}, app: App = testApp()) {
  const stack: Stack = testStack(app);
  const settings = parseSettings(input);
  const resources = pipelineResources(stack);
  const network = new WorkerNetwork(stack, 'Network', {
    egress: settings.egress,
    logRetention: settings.logRetentionDays,
  });
  const capacity = new GpuCapacity(stack, 'GpuCapacity', {
    cluster: network.cluster,
    vpc: network.vpc,
    subnets: network.privateSubnets,
    instanceTypes: settings.instanceTypes,
    onDemandPercent: settings.onDemandPercent,
    maxInstances: settings.maxTasks,
  });
  const worker = new WorkerService(stack, 'Worker', {
    cluster: network.cluster,
    vpc: network.vpc,
    subnets: network.privateSubnets,
    capacity,
    resources,
    settings: { limits: { chunkPages: settings.chunkPages } },
    executionProviders: settings.executionProviders,
    logRetention: settings.logRetentionDays,
  });
  const scaling = new WorkerScaling(stack, 'WorkerScaling', {
    service: worker.service,
    cluster: network.cluster,
    queues: resources.queues,
    maxTasks: settings.maxTasks,
    backlogPerTask: scaleOutBacklogPerTask(settings),
    idleMinutes: settings.idleMinutes,
  });
  return { app, stack, settings, resources, network, capacity, worker, scaling };
}

/** The logical id CloudFormation knows a construct's resource by. */
export function logicalId(stack: Stack, construct: { node: { defaultChild?: unknown } }): string {
  return stack.getLogicalId(construct.node.defaultChild as Parameters<Stack['getLogicalId']>[0]);
}
