"""Tenancy: organisations, the people in them and their roles, and the base of every tenant's row.

The tables keep the names they had when these models lived in `emma` (`db_table`), so moving them
here moved no data."""

from django.conf import settings
from django.db import models


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
