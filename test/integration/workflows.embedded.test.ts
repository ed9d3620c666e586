import { describeWorkflowsThroughGateway } from './workflows.suite.ts';

describeWorkflowsThroughGateway('embedded');
