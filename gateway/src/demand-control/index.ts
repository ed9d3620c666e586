export { CostModel, DEFAULT_LIST_SIZE, type CostOptions, type PreparedCost } from './cost-model.ts';
