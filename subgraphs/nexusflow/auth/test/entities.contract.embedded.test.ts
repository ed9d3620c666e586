import { describeAuthEntityContract } from './entities.contract.suite.ts';

describeAuthEntityContract('embedded');
