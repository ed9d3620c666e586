import { describeNotifyStep } from './notify-step.suite.ts';

describeNotifyStep('embedded');
