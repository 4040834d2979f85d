"""A read-only copy of the warehouse's BI-facing schemas, published atomically for BI tools."""

from serving.publish import DEFAULT_SCHEMAS, DEFAULT_STORAGE_VERSION, PublishError, PublishResult, publish_serving_copy

__all__ = ["DEFAULT_SCHEMAS", "DEFAULT_STORAGE_VERSION", "PublishError", "PublishResult", "publish_serving_copy"]
