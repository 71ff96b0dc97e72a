import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { MergedRuleSource, type MergeReport } from './api-rule-source.js';
import type { AlertHistoryStore, SilenceSource } from './config-store.js';
import { DynamoAlertConfigStore, DynamoAlertHistoryStore } from './dynamo-alert-config-store.js';
import { FileRuleSource, type RuleSource } from './rule-source.js';

export interface AlertConfigSettings {
  /** Rule files shipped in the bundle. */
  readonly rulesDir: string;
  /** Rules, channels and silences of the alerts API; absent, rule files only. */
  readonly configTable?: string;
  /** Where state changes are recorded; absent, not recorded. */
  readonly historyTable?: string;
  /** How long one read of the API's rules serves evaluations (ms). @default 30_000 */
  readonly rulesTtlMs?: number;
  readonly consoleBaseUrl?: string;
  /** Told of API rules a file shadows or that no longer validate. */
  readonly onSkipped?: (report: MergeReport) => void;
}

export interface AlertConfigPorts {
  readonly rules: RuleSource;
  readonly silences?: SilenceSource;
  readonly history?: AlertHistoryStore;
  readonly consoleBaseUrl?: string;
}

/**
 * The rules (files merged with the alerts API's, files first), silences, history and console links
 * both evaluators take: the scheduled one and the stream one must see the same rules, or a rule
 * the stream owns but cannot read would be evaluated by neither.
 */
export function alertConfigPorts(dynamo: DynamoDBClient, s: AlertConfigSettings): AlertConfigPorts {
  const files = new FileRuleSource(s.rulesDir);
  const store = s.configTable ? new DynamoAlertConfigStore(dynamo, s.configTable) : undefined;
  return {
    rules: store
      ? new MergedRuleSource(files, store, {
          ttlMs: s.rulesTtlMs ?? 30_000,
          ...(s.onSkipped && { onSkipped: s.onSkipped }),
        })
      : files,
    ...(store && { silences: store }),
    ...(s.historyTable && { history: new DynamoAlertHistoryStore(dynamo, s.historyTable) }),
    ...(s.consoleBaseUrl && { consoleBaseUrl: s.consoleBaseUrl }),
  };
}
