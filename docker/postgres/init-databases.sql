-- One database per subgraph on the shared server, named nexusflow_<subgraph>: each subgraph owns
-- its tables and migrations. The postgres image runs this file only when it initialises an empty
-- volume; \gexec makes it idempotent, so after adding a subgraph it can be applied to an existing one:
--   docker compose exec postgres psql -U postgres -f /docker-entrypoint-initdb.d/init-databases.sql
SELECT 'CREATE DATABASE nexusflow_auth'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'nexusflow_auth')\gexec
SELECT 'CREATE DATABASE nexusflow_workflows'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'nexusflow_workflows')\gexec
SELECT 'CREATE DATABASE nexusflow_scheduler'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'nexusflow_scheduler')\gexec
SELECT 'CREATE DATABASE nexusflow_notifications'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'nexusflow_notifications')\gexec
