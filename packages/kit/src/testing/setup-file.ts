import { seedEmbeddedDatabasesWith } from '../storage/database.ts';
import { seedEmbeddedDatabase } from './database-templates.ts';

/**
 * Vitest's setup file, run in each test file's process before it: every embedded database a test opens starts as a
 * copy of its service's migrated template, built once per set of migrations and shared by the files and runs of this
 * machine. The migrations themselves are checked from an empty cluster by `describeMigrations`.
 */
seedEmbeddedDatabasesWith(seedEmbeddedDatabase);
