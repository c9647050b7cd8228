"""Authentication and authorisation: principals, the credentials file, tokens, JWTs."""

from genops_processor.auth.credentials import (
    Credentials,
    CredentialsError,
    CredentialsSource,
    Entry,
    JwtSettings,
)
from genops_processor.auth.principals import ANONYMOUS, LOCAL_OPERATOR, Principal, Role

__all__ = [
    "ANONYMOUS",
    "LOCAL_OPERATOR",
    "Credentials",
    "CredentialsError",
    "CredentialsSource",
    "Entry",
    "JwtSettings",
    "Principal",
    "Role",
]
