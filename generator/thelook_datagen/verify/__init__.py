"""`thelook-datagen verify`: proves that the CDC topics replay to exactly the rows in PostgreSQL.

Modules: cli (options and exit codes), database (a consistent read of PostgreSQL), kafka_reader
(reads the change topics up to the database's cut), replay (per-table state by primary key),
values (Debezium's JSON encodings and PostgreSQL values turned into comparable values),
report (the printed and JSON report).
"""
