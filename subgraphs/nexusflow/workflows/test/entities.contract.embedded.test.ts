import { describeWorkflowsEntityContract } from './entities.contract.suite.ts';

describeWorkflowsEntityContract('embedded');
