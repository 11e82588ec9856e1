-- The Prefect server keeps its own database next to parley's.
CREATE DATABASE prefect OWNER parley;
