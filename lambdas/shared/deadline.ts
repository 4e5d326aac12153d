import type { Context } from 'aws-lambda';
import type { Config } from './config.ts';

/** Margin left before a Lambda's timeout when no budget is configured. */
const TIMEOUT_MARGIN_MS = 10_000;

/**
 * When a function that works through a backlog in steps (the dead-letter sweep, redrive, the
 * reconciler) must stop, as epoch ms: the stack's `OCRQ_TIME_BUDGET_MS` from now, or the
 * invocation's remaining time less a margin, whichever is sooner; undefined when neither is
 * known (the local stack, tests). What is left is done by the next run or call.
 */
export function deadlineOf(
  config: Pick<Config, 'timeBudgetMs'>,
  context?: Pick<Context, 'getRemainingTimeInMillis'>,
): number | undefined {
  const remaining = context ? context.getRemainingTimeInMillis() - TIMEOUT_MARGIN_MS : undefined;
  const budgets = [config.timeBudgetMs, remaining].filter((ms): ms is number => ms !== undefined);
  return budgets.length > 0 ? Date.now() + Math.max(0, Math.min(...budgets)) : undefined;
}
