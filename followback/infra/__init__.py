"""Kafka and PostgreSQL for followback: Docker Compose where an engine answers, else local processes."""
