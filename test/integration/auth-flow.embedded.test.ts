import { describeAuthThroughGateway } from './auth-flow.suite.ts';

describeAuthThroughGateway('embedded');
