import { hashNewPasswordsAtCost } from '../platform/passwords.ts';
import { seedEmbeddedDatabasesWith } from '../storage/database.ts';
import { seedEmbeddedDatabase } from './database-templates.ts';

/**
 * Vitest's setup file, run in each test file's process before it: every embedded database a test opens starts as a
 * copy of its service's migrated template, built once per set of migrations and shared by the files and runs of this
 * machine. The migrations themselves are checked from an empty cluster by `describeMigrations`. New passwords are
 * hashed at scrypt's N=2^10 instead of 2^15: the same code and format, a thirty-second of the CPU (the auth throttling
 * tests took 41 s at the real cost, 15 s at this one); `passwords.test.ts` checks the real cost.
 */
seedEmbeddedDatabasesWith(seedEmbeddedDatabase);
hashNewPasswordsAtCost({ N: 2 ** 10, r: 8, p: 1 });
