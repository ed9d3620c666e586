import { Migration } from '@mikro-orm/migrations';

export class ExecutionOwner extends Migration {
  override name = '0002-execution-owner';

  override up(): void {
    this.addSql(`alter table "executions" add column "owner_id" uuid null`);
  }

  override down(): void {
    this.addSql(`alter table "executions" drop column "owner_id"`);
  }
}
