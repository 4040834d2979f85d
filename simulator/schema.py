"""The case-management system's tables: the source contract the warehouse ingests.

Declared with SQLAlchemy Core so the same DDL creates the SQLite demo source and a PostgreSQL one.
Every table has a primary key and an `updated_at` audit column that the system sets on every write;
ingestion uses it as its incremental cursor. Business timestamps (`submitted_at`, `event_at`, ...)
can lag `updated_at` (late status updates), which is why the cursor is never a business timestamp.
All timestamps are UTC, without a zone, as the case system stores them.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
)

metadata = MetaData()

departments = Table(
    "departments",
    metadata,
    Column("department_id", String(16), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

districts = Table(
    "districts",
    metadata,
    Column("district_id", String(16), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("population", Integer, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

services = Table(
    "services",
    metadata,
    Column("service_code", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("category", String(64), nullable=False),
    Column("department_id", String(16), ForeignKey("departments.department_id"), nullable=False),
    # The published processing-time commitment, in hours.
    Column("commitment_hours", Integer, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

citizens = Table(
    "citizens",
    metadata,
    Column("citizen_id", BigInteger, primary_key=True, autoincrement=False),
    Column("kind", String(16), nullable=False),  # resident | business
    Column("full_name", String(200)),
    Column("identity_number", String(32)),  # national id or business registration number
    Column("phone", String(32)),
    Column("email", String(200)),
    Column("district_id", String(16)),
    Column("birth_year", SmallInteger),  # residents only
    Column("sector", String(64)),  # businesses only
    Column("company_size", String(16)),  # businesses only: micro | small | medium | large
    Column("consent_analytics", Boolean, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

service_requests = Table(
    "service_requests",
    metadata,
    Column("request_id", BigInteger, primary_key=True, autoincrement=False),
    Column("citizen_id", BigInteger),  # null when anonymous
    Column("service_code", String(32)),
    # hotline | web | app | service_hall | email | social_media
    Column("channel", String(16), nullable=False),
    Column("district_id", String(16)),
    Column("latitude", Float),
    Column("longitude", Float),
    # request | complaint | enquiry | suggestion | praise
    Column("request_type", String(16), nullable=False),
    Column("description", Text),
    # received | assigned | in_progress | resolved | closed | reopened
    Column("status", String(16), nullable=False),
    Column("priority", String(8), nullable=False),  # low | normal | high | urgent
    Column("submitted_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("closed_at", DateTime),
)

request_events = Table(
    "request_events",
    metadata,
    Column("event_id", BigInteger, primary_key=True, autoincrement=False),
    Column("request_id", BigInteger, nullable=False),
    # received | assigned | in_progress | resolved | closed | reopened
    Column("event_type", String(16), nullable=False),
    Column("department_id", String(16)),
    Column("event_at", DateTime, nullable=False),  # when it happened
    Column("updated_at", DateTime, nullable=False),  # when the system recorded it
)

satisfaction_surveys = Table(
    "satisfaction_surveys",
    metadata,
    Column("survey_id", BigInteger, primary_key=True, autoincrement=False),
    Column("request_id", BigInteger, nullable=False),
    Column("citizen_id", BigInteger),
    Column("score", SmallInteger, nullable=False),  # 1..5
    Column("comment", Text),
    Column("submitted_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

# The tables ingestion loads, in dependency order. Tables whose names start with `_sim_` belong to
# the simulator's own bookkeeping and are never ingested.
CASE_SYSTEM_TABLES: tuple[str, ...] = (
    "departments",
    "districts",
    "services",
    "citizens",
    "service_requests",
    "request_events",
    "satisfaction_surveys",
)

CHANNELS: tuple[str, ...] = ("hotline", "web", "app", "service_hall", "email", "social_media")
REQUEST_TYPES: tuple[str, ...] = ("request", "complaint", "enquiry", "suggestion", "praise")
STATUSES: tuple[str, ...] = ("received", "assigned", "in_progress", "resolved", "closed", "reopened")
PRIORITIES: tuple[str, ...] = ("low", "normal", "high", "urgent")
