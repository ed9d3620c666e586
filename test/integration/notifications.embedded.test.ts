import { describeNotificationsThroughGateway } from './notifications.suite.ts';

describeNotificationsThroughGateway('embedded');
