"""Tenancy: organisations, the people in them and their roles, and the base of every tenant's row.

The tables keep the names they had when these models lived in `emma` (`db_table`), so moving them
here moved no data."""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from rest_framework_api_key.crypto import KeyGenerator
from rest_framework_api_key.models import AbstractAPIKey, BaseAPIKeyManager


class Tenant(models.Model):
    """An organisation. Every domain row belongs to exactly one tenant."""

    slug = models.SlugField(max_length=63, unique=True)
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "emma_tenant"

    def __str__(self):
        return self.slug


class Membership(models.Model):
    """A user's place in one tenant, with the role that decides what they may do there. A user may belong
    to several tenants; a request acts in one of them (core.selectors.active_membership)."""

    class Role(models.TextChoices):
        SUBMITTER = "submitter", "Submitter"
        APPROVER = "approver", "Approver"
        ADMIN = "admin", "Admin"

    DECIDING_ROLES = (Role.APPROVER, Role.ADMIN)

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.SUBMITTER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "emma_membership"
        constraints = [models.UniqueConstraint(fields=["user", "tenant"], name="membership_unique_user_tenant")]

    def __str__(self):
        return f"{self.user} @ {self.tenant} ({self.role})"


class TenantQuerySet(models.QuerySet):
    def for_tenant(self, tenant):
        return self.filter(tenant=tenant)


class TenantOwned(models.Model):
    """Base of every domain model: the tenant column, and `for_tenant()` on its manager."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")

    objects = TenantQuerySet.as_manager()

    class Meta:
        abstract = True


class Invitation(models.Model):
    """A tenant admin's invitation to join their tenant with a role. Its secret is mailed to the invitee
    and kept here only as a SHA-256 hash (`token_hash`); it works once, until `expires_at`, unless revoked
    (core.accounts.invitation_accept)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        EXPIRED = "expired", "Expired"
        REVOKED = "revoked", "Revoked"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Membership.Role.choices, default=Membership.Role.SUBMITTER)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tenant", "-created_at"], name="invitation_tenant_created")]

    def __str__(self):
        return f"{self.email} → {self.tenant} ({self.role})"

    @property
    def status(self) -> str:
        if self.accepted_at:
            return self.Status.ACCEPTED
        if self.revoked_at:
            return self.Status.REVOKED
        if self.expires_at <= timezone.now():
            return self.Status.EXPIRED
        return self.Status.PENDING


class EmailAddress(models.Model):
    """A user's email address and when they proved it is theirs (a link mailed to it was followed: an
    invitation accepted, or a sign-up's verification link). Password reset mails go to active accounts."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="email_address")
    email = models.EmailField()
    verified_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return self.email


# --- API keys ---------------------------------------------------------------------------------------

# Every key reads "emma_<prefix>.<secret>": the prefix names the key (in logs, the admin, the audit chain) and
# the "emma_" in front lets a secret scanner recognise a leaked one. Only a hash of the whole string is kept.
API_KEY_MARK = "emma_"


class APIKeyGenerator(KeyGenerator):
    """djangorestframework-api-key's generator and hasher (sha512 of a high-entropy key), with Emma's mark in
    front of the key; the prefix stored is the random part alone."""

    def generate(self) -> tuple[str, str, str]:
        prefix, secret = self.get_prefix(), self.get_secret_key()
        key = f"{API_KEY_MARK}{prefix}.{secret}"
        return key, prefix, self.hash(key)


class APIKeyManager(BaseAPIKeyManager):
    key_generator = APIKeyGenerator(prefix_length=8, secret_key_length=40)

    def assign_key(self, obj) -> str:
        # The library's primary key is "<prefix>.<hash>": Emma's keys have a plain integer id instead (it
        # appears in URLs and audit events, where a hash has no business).
        key, obj.prefix, obj.hashed_key = self.key_generator.generate()
        return key

    def get_from_key(self, key: str):
        """The key this string is, whatever its state (revoked, expired): DoesNotExist for any other string."""
        mark, _, rest = key.partition(API_KEY_MARK)
        prefix, dot, secret = rest.partition(".")
        if mark or not dot or not secret or len(key) > 200 or not (prefix.isascii() and prefix.isalnum()):
            raise self.model.DoesNotExist("Not an Emma API key.")
        api_key = self.select_related("user", "tenant").filter(prefix=prefix).first()
        if api_key is None or not api_key.is_valid(key):
            raise self.model.DoesNotExist("Key is not valid.")
        return api_key


class APIKey(AbstractAPIKey):
    """A machine's credential in one tenant, with one role: requests sent with `Authorization: Api-Key <key>`
    act as its backing user (`user`, username `key:<prefix>`, no password, never staff, no membership row), so
    everything a key does is recorded as that key. `task_types` limits what it may submit (empty: all);
    `rate_limit_per_min` is its own limit (null: the deployment's RATE_LIMIT_PER_MIN)."""

    id = models.BigAutoField(primary_key=True)
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="api_keys")
    role = models.CharField(max_length=16, choices=Membership.Role.choices, default=Membership.Role.SUBMITTER)
    task_types = models.JSONField(default=list, blank=True,
                                  help_text="The task types this key may submit; empty: every type.")
    rate_limit_per_min = models.PositiveIntegerField(null=True, blank=True,
                                                     help_text="Requests a minute; empty: the deployment's.")
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    STATUSES = ("active", "expired", "revoked")

    objects = APIKeyManager()

    class Meta(AbstractAPIKey.Meta):
        db_table = "core_api_key"
        verbose_name = "API key"
        verbose_name_plural = "API keys"

    @property
    def username(self) -> str:
        return f"key:{self.prefix}"

    @property
    def status(self) -> str:
        if self.revoked:
            return "revoked"
        return "expired" if self.has_expired else "active"

    def __str__(self):
        return f"{self.name} ({API_KEY_MARK}{self.prefix}…)"


# --- per-tenant configuration ------------------------------------------------------------------------


class ConfigVersion(TenantOwned):
    """One version of one of a tenant's configuration documents (core.configuration): the newest is in force,
    versions are never edited, and a rollback is a new version holding an old one's content. `content` is what
    the tenant set; the deployment's settings fill in the rest (each document's defaults)."""

    document = models.CharField(max_length=64)
    version = models.PositiveIntegerField()
    content = models.JSONField()
    diff = models.JSONField(default=dict)  # {key: {"from", "to"}} against the version before
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="+")
    reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["document", "-version"]
        constraints = [models.UniqueConstraint(fields=["tenant", "document", "version"],
                                               name="configversion_unique_version")]
        verbose_name = "configuration version"

    def __str__(self):
        return f"{self.tenant} {self.document} v{self.version}"
