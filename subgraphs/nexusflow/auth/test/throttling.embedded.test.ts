import { describeSignInThrottling } from './throttling.suite.ts';

describeSignInThrottling('embedded');
