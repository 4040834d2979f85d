"""Errors a user can act on. The CLI prints their message, never a stack trace."""


class CirmError(Exception):
    """Base for every error caused by input or configuration rather than by a bug."""
