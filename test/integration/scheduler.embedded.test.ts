import { describeSchedulerThroughGateway } from './scheduler.suite.ts';

describeSchedulerThroughGateway('embedded');
