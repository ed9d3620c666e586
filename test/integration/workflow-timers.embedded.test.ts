import { describeWorkflowTimers } from './workflow-timers.suite.ts';

describeWorkflowTimers('embedded');
