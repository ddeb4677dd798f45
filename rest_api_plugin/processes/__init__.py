"""Airflow commands run as processes: their argv lists (never a shell), background jobs and their runner,
and how many calls may wait on them."""
