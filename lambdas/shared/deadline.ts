import type { Context } from 'aws-lambda';
import type { Config } from './config.ts';

/** Margin left before a Lambda's timeout when no budget is configured. */
const TIMEOUT_MARGIN_MS = 10_000;

/**
 * When a function that works through a backlog in steps (the dead-letter sweep, redrive, the
 * reconciler) must stop, as epoch ms: the stack's `OCRQ_TIME_BUDGET_MS` from now, else the
 * invocation's remaining time less a margin, else `fallbackMs` from now (the local stack, tests),
 * else no deadline. What is left is done by the next run or call.
 */
export function deadlineOf(
  config: Pick<Config, 'timeBudgetMs'>,
  context?: Pick<Context, 'getRemainingTimeInMillis'>,
  fallbackMs?: number,
): number | undefined {
  const now = Date.now();
  const remaining = context ? context.getRemainingTimeInMillis() - TIMEOUT_MARGIN_MS : undefined;
  const budgets = [config.timeBudgetMs, remaining].filter((ms): ms is number => ms !== undefined);
  if (budgets.length > 0) return now + Math.max(0, Math.min(...budgets));
  return fallbackMs === undefined ? undefined : now + fallbackMs;
}
