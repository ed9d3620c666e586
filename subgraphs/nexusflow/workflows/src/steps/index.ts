export { isPublicAddress } from './address-policy.ts';
export { aiStep, aiStepConfig, type AiStepConfig, type AiStepOptions, type AiStepOutput } from './ai.ts';
export { conditionStep, conditionStepConfig, type ConditionOperator, type ConditionStepConfig } from './condition.ts';
export { delayStep, delayStepConfig, MAX_DELAY_MS, type DelayStepConfig } from './delay.ts';
export { httpStep, httpStepConfig, type HttpStepConfig, type HttpStepOptions, type HttpStepOutput } from './http.ts';
export {
  integrationStep,
  integrationStepConfig,
  stepErrorOf,
  type IntegrationStepConfig,
  type IntegrationStepOptions,
  type IntegrationStepOutput,
} from './integration.ts';
export { notifyStep, notifyStepConfig, type NotifyStepConfig, type NotifyStepOptions, type NotifyStepOutput } from './notify.ts';
export { defaultStepRegistry, StepRegistry, type ConfigParseResult, type DefaultStepOptions } from './registry.ts';
export { transformStep, transformStepConfig, type TransformStepConfig } from './transform.ts';
export { StepError, type StepContext, type StepExecutor, type StepOutcome } from './types.ts';
